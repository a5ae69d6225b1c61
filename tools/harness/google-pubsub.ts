// Google's own Pub/Sub emulator (the Cloud SDK's platform/pubsub-emulator, the reference the
// stand-ins are compared with), started on loopback for the PostgreSQL source's tests: it speaks
// the gRPC Debezium Server's Java client uses, and REST for the tests' own calls.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ChildProcess, execFileSync, spawn } from "child_process";
import { freePort } from "../../stand-ins";

export interface GooglePubSub {
  /** host:port */
  host: string;
  project: string;
  createTopic(topic: string): Promise<void>;
  /** A pull subscription with message ordering on. */
  createSubscription(name: string, topic: string): Promise<void>;
  /** Pulls (and acknowledges) what is there now, up to `max` messages. */
  pull(subscription: string, max?: number): Promise<PulledMessage[]>;
  stop(): void;
}

export interface PulledMessage {
  data: string;
  orderingKey: string;
  attributes: Record<string, string>;
  publishTime: string;
}

/** The emulator's start script, found beside gcloud (or CLOUDSDK_ROOT_DIR). */
export function googlePubSubScript(): string | undefined {
  const roots = [
    process.env.CLOUDSDK_ROOT_DIR,
    "/usr/lib/google-cloud-sdk",
    "/usr/share/google-cloud-sdk",
    "/opt/google-cloud-sdk",
    path.join(os.homedir(), "google-cloud-sdk"),
  ];
  try {
    roots.unshift(path.dirname(path.dirname(fs.realpathSync(execFileSync("sh", ["-c", "command -v gcloud"], { encoding: "utf8" }).trim()))));
  } catch {
    /* no gcloud on PATH */
  }
  return roots.map((r) => r && path.join(r, "platform", "pubsub-emulator", "bin", "cloud-pubsub-emulator")).find((s) => s && fs.existsSync(s));
}

export async function startGooglePubSub(project = "zas-test"): Promise<GooglePubSub> {
  const script = googlePubSubScript();
  if (!script)
    throw new Error("Google's Pub/Sub emulator is not installed (gcloud components install pubsub-emulator, or the google-cloud-cli-pubsub-emulator package)");
  const port = await freePort();
  const log = fs.openSync(path.join(os.tmpdir(), `google-pubsub-${port}.log`), "w");
  const proc: ChildProcess = spawn(script, [`--host=127.0.0.1`, `--port=${port}`], {
    stdio: ["ignore", log, log],
    env: { ...process.env, CLOUD_PUBSUB_EMULATOR_OPTS: "-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1" },
    detached: true,
  });
  const base = `http://127.0.0.1:${port}/v1/projects/${project}`;
  const call = async (method: string, p: string, body?: unknown) => {
    const r = await fetch(`${base}${p}`, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${p}: HTTP ${r.status} ${text}`);
    return text ? JSON.parse(text) : {};
  };
  const stop = () => {
    try {
      process.kill(-proc.pid!, "SIGKILL");
    } catch {
      /* gone */
    }
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await call("GET", "/topics");
      break;
    } catch {
      if (Date.now() > deadline || proc.exitCode !== null) {
        stop();
        throw new Error(`Google's Pub/Sub emulator did not answer on 127.0.0.1:${port} within 60 s`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  return {
    host: `127.0.0.1:${port}`,
    project,
    createTopic: async (topic) => void (await call("PUT", `/topics/${topic}`, {})),
    createSubscription: async (name, topic) =>
      void (await call("PUT", `/subscriptions/${name}`, { topic: `projects/${project}/topics/${topic}`, enableMessageOrdering: true, ackDeadlineSeconds: 60 })),
    async pull(subscription, max = 1000) {
      const r = await call("POST", `/subscriptions/${subscription}:pull`, { maxMessages: max, returnImmediately: true });
      const got = (r.receivedMessages ?? []) as { ackId: string; message: Record<string, any> }[];
      if (got.length) await call("POST", `/subscriptions/${subscription}:acknowledge`, { ackIds: got.map((m) => m.ackId) });
      return got.map(({ message: m }) => ({
        data: Buffer.from(m.data ?? "", "base64").toString("utf8"),
        orderingKey: m.orderingKey ?? "",
        attributes: m.attributes ?? {},
        publishTime: m.publishTime,
      }));
    },
    stop,
  };
}
