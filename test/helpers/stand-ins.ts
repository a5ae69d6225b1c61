// The stand-ins as the tests use them: both started and wired (stand-ins/start.ts), plus an admin
// Google client of the product's own kind.
import { RunningStandIns, startStandIns as start } from "../../stand-ins";
import type { TwinOptions } from "../../stand-ins";
import { Gcp, gcpClients } from "../../provider/gcp/client";

export interface StandIns extends RunningStandIns {
  admin: Gcp;
}

export async function startStandIns(twinOptions: Partial<TwinOptions> = {}): Promise<StandIns> {
  const s = await start(twinOptions);
  const admin = await gcpClients({ credentials: s.emu.adminKeyFile, endpoint: s.emu.endpoint });
  return { ...s, admin };
}
