// Both stand-ins on loopback, wired together as the pipeline needs them: the GCP emulator and the
// CockroachDB twin writing into it (its nodes' implicit identity is the emulator's admin), with a pg
// connection to the twin.
import { Client } from "pg";
import { GcpEmulator } from "./gcp/emulator";
import { RunningTwin, startCockroachTwin } from "./cockroach/spawn";
import type { TwinOptions } from "./cockroach/twin";

export interface RunningStandIns {
  emu: GcpEmulator;
  twin: RunningTwin;
  /** A connection to the twin, for inserting events. */
  pg: Client;
  stop(): Promise<void>;
}

export async function startStandIns(twinOptions: Partial<TwinOptions> = {}): Promise<RunningStandIns> {
  const emu = await new GcpEmulator().start();
  // Checkpoints every 300 ms unless a caller says otherwise: waits for a checkpoint are what tests mostly wait on.
  const twin = await startCockroachTwin({ storageEndpoint: emu.endpoint, implicitKeyFile: emu.adminKeyFile, checkpointMs: 300, ...twinOptions });
  const pg = new Client({ connectionString: twin.url });
  pg.on("error", () => undefined); // the twin stopping under an idle connection is no news
  await pg.connect();
  return {
    emu,
    twin,
    pg,
    async stop() {
      await pg.end().catch(() => undefined);
      await twin.stop();
      await emu.stop();
    },
  };
}
