// `npm run twin`: starts the stand-ins in the foreground and prints one JSON line describing them,
// then runs until SIGINT or SIGTERM, when it stops them and exits 0.
import { GcpEmulator } from "./gcp/emulator";
import { startCockroachTwin } from "./cockroach/spawn";

async function main(): Promise<void> {
  const port = process.env.TWIN_GCP_PORT ? Number(process.env.TWIN_GCP_PORT) : undefined;
  const gcp = await new GcpEmulator({ port, project: process.env.TWIN_GCP_PROJECT }).start();
  const cockroach = await startCockroachTwin({
    storageEndpoint: gcp.endpoint,
    implicitKeyFile: gcp.adminKeyFile,
    port: process.env.TWIN_COCKROACH_PORT ? Number(process.env.TWIN_COCKROACH_PORT) : undefined,
    version: process.env.TWIN_COCKROACH_VERSION,
  });
  const info = {
    gcpEndpoint: gcp.endpoint,
    adminKeyFile: gcp.adminKeyFile,
    project: gcp.project,
    cockroachUrl: cockroach.url,
    // Pub/Sub's gRPC Publisher, as the admin account (stand-ins/gcp/pubsub-grpc.ts: one endpoint per principal).
    pubsubGrpc: await gcp.pubsubGrpc.endpointFor(gcp.adminEmail),
  };
  process.stdout.write(JSON.stringify(info) + "\n");
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`twin: ${signal}, stopping\n`);
    await cockroach.stop();
    await gcp.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((e) => {
  process.stderr.write(`twin: ${e?.stack ?? e}\n`);
  process.exit(1);
});
