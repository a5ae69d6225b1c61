// Pub/Sub's gRPC Publisher.Publish, what Google's Java client speaks (Debezium Server's Pub/Sub sink).
// The same topics, validation and IAM as the REST subset (pubsub.ts): a call is turned into the REST
// publish and answered with its result or its error as a gRPC status.
//
// Identity: a client pointed at an emulator (Debezium's `debezium.sink.pubsub.address`) sends no
// credentials: its channel is plaintext with no credentials provider (docs/debezium-server.md §7).
// On GCP the identity would be the runtime's service account, from its metadata server. So each
// principal gets its own endpoint here (`endpointFor`): what is published there is published as
// that principal, and IAM decides as it would for the account's own token.
//
// The messages are encoded by hand (protobuf's wire format: varints and length-delimited fields), with
// the field numbers of google/pubsub/v1/pubsub.proto: PublishRequest {topic = 1, messages = 2},
// PubsubMessage {data = 1, attributes = 2 (map entries {key = 1, value = 2}), message_id = 3,
// publish_time = 4, ordering_key = 5}, PublishResponse {message_ids = 1}. Unknown fields are skipped.
import * as grpc from "@grpc/grpc-js";
import { ApiError } from "./errors";
import type { PubsubApi } from "./pubsub";

export interface GrpcPublishedMessage {
  data: Buffer;
  attributes: Record<string, string>;
  orderingKey: string;
}

// ---------------------------------------------------------------- wire format

function readVarint(b: Buffer, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (let i = at; i < b.length; i++) {
    value += (b[i] & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b[i] & 0x80) === 0) return [value, i + 1];
    if (shift > 63) break;
  }
  throw new Error("malformed varint");
}

/** Each field of a message: its number, wire type and value (a number, or the bytes of a length-delimited field). */
function* fields(b: Buffer): Generator<{ no: number; type: number; value: number | Buffer }> {
  let at = 0;
  while (at < b.length) {
    const [tag, next] = readVarint(b, at);
    at = next;
    const no = Math.floor(tag / 8);
    const type = tag & 7;
    if (type === 0) {
      const [v, n] = readVarint(b, at);
      at = n;
      yield { no, type, value: v };
    } else if (type === 2) {
      const [len, n] = readVarint(b, at);
      if (n + len > b.length) throw new Error("truncated field");
      yield { no, type, value: b.subarray(n, n + len) };
      at = n + len;
    } else if (type === 1) {
      at += 8;
    } else if (type === 5) {
      at += 4;
    } else throw new Error(`unsupported wire type ${type}`);
  }
}

function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

function lengthDelimited(no: number, value: Buffer): Buffer {
  return Buffer.concat([varint(no * 8 + 2), varint(value.length), value]);
}

export function decodePublishRequest(b: Buffer): { topic: string; messages: GrpcPublishedMessage[] } {
  let topic = "";
  const messages: GrpcPublishedMessage[] = [];
  for (const f of fields(b)) {
    if (f.no === 1 && Buffer.isBuffer(f.value)) topic = f.value.toString("utf8");
    if (f.no === 2 && Buffer.isBuffer(f.value)) messages.push(decodeMessage(f.value));
  }
  return { topic, messages };
}

function decodeMessage(b: Buffer): GrpcPublishedMessage {
  const m: GrpcPublishedMessage = { data: Buffer.alloc(0), attributes: {}, orderingKey: "" };
  for (const f of fields(b)) {
    if (!Buffer.isBuffer(f.value)) continue;
    if (f.no === 1) m.data = Buffer.from(f.value);
    if (f.no === 5) m.orderingKey = f.value.toString("utf8");
    if (f.no === 2) {
      let key = "";
      let value = "";
      for (const e of fields(f.value)) {
        if (e.no === 1 && Buffer.isBuffer(e.value)) key = e.value.toString("utf8");
        if (e.no === 2 && Buffer.isBuffer(e.value)) value = e.value.toString("utf8");
      }
      m.attributes[key] = value;
    }
  }
  return m;
}

export function encodePublishRequest(topic: string, messages: GrpcPublishedMessage[]): Buffer {
  const encoded = messages.map((m) => {
    const parts = [lengthDelimited(1, m.data)];
    for (const [k, v] of Object.entries(m.attributes))
      parts.push(lengthDelimited(2, Buffer.concat([lengthDelimited(1, Buffer.from(k)), lengthDelimited(2, Buffer.from(v))])));
    if (m.orderingKey) parts.push(lengthDelimited(5, Buffer.from(m.orderingKey)));
    return lengthDelimited(2, Buffer.concat(parts));
  });
  return Buffer.concat([lengthDelimited(1, Buffer.from(topic)), ...encoded]);
}

export function encodePublishResponse(ids: string[]): Buffer {
  return Buffer.concat(ids.map((id) => lengthDelimited(1, Buffer.from(id))));
}

export function decodePublishResponse(b: Buffer): string[] {
  return [...fields(b)].filter((f) => f.no === 1 && Buffer.isBuffer(f.value)).map((f) => (f.value as Buffer).toString("utf8"));
}

// ---------------------------------------------------------------- the service

/** The gRPC status for the REST error's HTTP status (google.rpc.Code's HTTP mapping). */
export function grpcStatus(httpStatus: number): grpc.status {
  const map: Record<number, grpc.status> = {
    400: grpc.status.INVALID_ARGUMENT,
    401: grpc.status.UNAUTHENTICATED,
    403: grpc.status.PERMISSION_DENIED,
    404: grpc.status.NOT_FOUND,
    409: grpc.status.ALREADY_EXISTS,
    429: grpc.status.RESOURCE_EXHAUSTED,
    503: grpc.status.UNAVAILABLE,
  };
  return map[httpStatus] ?? grpc.status.INTERNAL;
}

export const PUBLISH_PATH = "/google.pubsub.v1.Publisher/Publish";

export class PubsubGrpc {
  private readonly servers = new Map<string, { server: grpc.Server; endpoint: string }>();

  constructor(private readonly pubsub: PubsubApi) {}

  /** host:port where calls are made as `principal` (started on first use). */
  async endpointFor(principal: string): Promise<string> {
    const known = this.servers.get(principal);
    if (known) return known.endpoint;
    const server = new grpc.Server();
    const identity = (b: Buffer) => b;
    server.addService(
      {
        Publish: {
          path: PUBLISH_PATH,
          requestStream: false,
          responseStream: false,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      },
      {
        Publish: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
          try {
            const req = decodePublishRequest(call.request);
            done(null, encodePublishResponse(this.pubsub.publishAs(principal, req.topic, req.messages)));
          } catch (e) {
            const http = e instanceof ApiError ? e.code : 400;
            done({ code: grpcStatus(http), details: (e as Error).message });
          }
        },
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const endpoint = `127.0.0.1:${port}`;
    this.servers.set(principal, { server, endpoint });
    return endpoint;
  }

  async stop(): Promise<void> {
    for (const { server } of this.servers.values()) server.forceShutdown();
    this.servers.clear();
  }
}
