// The Pub/Sub sink of the twin (docs/pubsub-research.md): parses a gcpubsub:// URI as CockroachDB's
// v2 sink does (sink_pubsub_v2.go makePubsubSinkClient/makePublisherClient, §1), and publishes each
// row as one message whose data is `{"Key":[…],"Value":{…},"Topic":"…"}` (§3), in batches of at most
// 100 messages (the v2 sink's default flush, §5), authenticating with the key in the URI.
//
// Deliberately different from CockroachDB: the real sink speaks gRPC to
// `<region>-pubsub.googleapis.com` (or to PUBSUB_EMULATOR_HOST without credentials); the twin
// publishes through the GCP emulator's REST API with a token of the sink's key, so that the
// emulator can enforce pubsub.topics.publish on the writer, as the real service does.
import { SqlError } from "./wire";
import { KeyToken, sinkKeyJson } from "./key-token";
import { goParseQuery, goStdBase64Decode } from "./gcs-sink";

export interface PubSubSink {
  kind: "pubsub";
  project: string;
  topic: string;
  region?: string;
  auth: "specified" | "implicit";
  credentials?: string;
  assumeRole?: string;
}

const PARAMS = ["region", "topic_name", "AUTH", "CREDENTIALS", "ASSUME_ROLE", "with_table_name_attribute"];

/** Parses and validates a gcpubsub:// URI; errors read as CockroachDB's (§1). */
export function parsePubSubSink(uri: string, options: Record<string, string | true>, defaultTopic: string): PubSubSink {
  const m = /^gcpubsub:\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?$/.exec(uri);
  if (!m) throw new SqlError("XXUUU", `no scheme found for sink URL "${uri}"`);
  const [, project, , query = ""] = m;
  if (!project) throw new SqlError("XXUUU", "missing project name");
  const params = goParseQuery(query);
  const unknown = [...params.keys()].filter((k) => !PARAMS.includes(k));
  if (unknown.length) throw new SqlError("XXUUU", `unknown sink query parameters: ${unknown.join(", ")}`);
  const region = params.get("region");
  if (!region && !options.unordered)
    throw new SqlError("XXUUU", "region query parameter not found\nHINT: Use of gcpubsub without specifying a region requires the WITH unordered option.");
  const auth = (params.get("AUTH") ?? "specified").toLowerCase();
  const sink: PubSubSink = {
    kind: "pubsub",
    project,
    topic: params.get("topic_name") || defaultTopic,
    ...(region ? { region } : {}),
    auth: auth === "implicit" ? "implicit" : "specified",
  };
  if (params.has("ASSUME_ROLE")) sink.assumeRole = params.get("ASSUME_ROLE");
  if (sink.auth === "specified") {
    const creds = params.get("CREDENTIALS");
    if (!creds) throw new SqlError("XXUUU", "missing credentials parameter");
    let decoded: Buffer;
    try {
      decoded = goStdBase64Decode(creds);
    } catch {
      throw new SqlError("XXUUU", "param CREDENTIALS must be base 64 encoded");
    }
    try {
      const key = JSON.parse(decoded.toString("utf8"));
      if (key.type !== "service_account" || !key.private_key || !key.client_email) throw new Error("not a service account key");
    } catch (e) {
      throw new SqlError("XXUUU", `creating credentials from json: ${(e as Error).message}`);
    }
    sink.credentials = decoded.toString("utf8");
  }
  return sink;
}

/** Options a Pub/Sub sink refuses (they belong to cloud storage and other sinks). */
export const NOT_FOR_PUBSUB = [
  "compression",
  "kafka_sink_config",
  "webhook_sink_config",
  "webhook_auth_header",
  "webhook_client_timeout",
  "confluent_schema_registry",
  "avro_schema_prefix",
  "schema_topic",
];

export class PubSubPublisher {
  private tokens: KeyToken;

  constructor(
    private readonly sink: PubSubSink,
    private readonly endpoint: string,
    private readonly implicitKeyFile?: string,
  ) {
    this.tokens = new KeyToken(() => sinkKeyJson(this.sink, this.implicitKeyFile), "https://www.googleapis.com/auth/pubsub");
  }

  /** Publishes each message body (its JSON text) in batches of 100; a refusal is the sink's error. */
  async publish(bodies: string[]): Promise<void> {
    for (let i = 0; i < bodies.length; i += 100) {
      const messages = bodies.slice(i, i + 100).map((b) => ({ data: Buffer.from(b).toString("base64") }));
      const res = await fetch(`${this.endpoint}/v1/projects/${encodeURIComponent(this.sink.project)}/topics/${encodeURIComponent(this.sink.topic)}:publish`, {
        method: "POST",
        headers: { authorization: `Bearer ${await this.tokens.get()}`, "content-type": "application/json" },
        body: JSON.stringify({ messages }),
      });
      if (!res.ok) {
        const body: any = await res.json().catch(() => ({}));
        // As Go's gRPC client reports it: rpc error: code = <Code> desc = <message>.
        const code: Record<number, string> = {
          400: "InvalidArgument",
          401: "Unauthenticated",
          403: "PermissionDenied",
          404: "NotFound",
          429: "ResourceExhausted",
          503: "Unavailable",
        };
        throw new Error(`rpc error: code = ${code[res.status] ?? "Unknown"} desc = ${body?.error?.message ?? res.statusText} (HTTP ${res.status})`);
      }
    }
  }
}

/** The message body of one row (§3): `{"Key":[…],"Value":<the row's JSON>,"Topic":"<topic>"}`, compact. */
export function pubsubMessage(keyJson: string, valueJson: string, topic: string): string {
  return `{"Key":${keyJson},"Value":${valueJson},"Topic":${JSON.stringify(topic)}}`;
}
