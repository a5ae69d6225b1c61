// Both stand-ins on loopback, wired together as the pipeline needs them: the GCP emulator, the
// CockroachDB twin writing into it (its nodes' implicit identity is the emulator's admin), an admin
// Google client and a pg connection to the twin.
import { Client } from "pg";
import { GcpEmulator } from "../twin/gcp/emulator";
import { RunningTwin, startCockroachTwin } from "../twin/cockroach/spawn";
import { Gcp, gcpClients } from "../../provider/gcp/client";
import type { TwinOptions } from "../twin/cockroach/twin";

export interface StandIns {
  emu: GcpEmulator;
  twin: RunningTwin;
  admin: Gcp;
  pg: Client;
  stop(): Promise<void>;
}

export async function startStandIns(twinOptions: Partial<TwinOptions> = {}): Promise<StandIns> {
  const emu = await new GcpEmulator().start();
  // Checkpoints every 300 ms unless a test says otherwise: waits for a checkpoint are what tests mostly wait on.
  const twin = await startCockroachTwin({ storageEndpoint: emu.endpoint, implicitKeyFile: emu.adminKeyFile, checkpointMs: 300, ...twinOptions });
  const admin = await gcpClients({ credentials: emu.adminKeyFile, endpoint: emu.endpoint });
  const pg = new Client({ connectionString: twin.url });
  pg.on("error", () => undefined); // the twin stopping under an idle connection is no news
  await pg.connect();
  return {
    emu,
    twin,
    admin,
    pg,
    async stop() {
      await pg.end().catch(() => undefined);
      await twin.stop();
      await emu.stop();
    },
  };
}
