// Cloud Pub/Sub REST v1 subset: topics (create/get/patch/delete/list, publish), pull subscriptions
// (create/get/patch/delete/list, pull, acknowledge, modifyAckDeadline) with at-least-once delivery, ack
// deadlines, retention, expiration, attribute filters and dead-letter topics, and IAM policies on topics
// and subscriptions. Follows docs/pubsub-research.md §8 and cloud.google.com/pubsub/docs/reference/rest.
//
// Error texts: the ones quoted from the real service (research doc §7–8, and the client-library issues
// cited beside them) are used as such; the others are this emulator's own words, marked "own words".
// Delivery runs on the emulator's Pub/Sub clock (`now()`), which a test can move with `advance(ms)`.
import * as crypto from "crypto";
import { ApiError, invalid, parseDuration } from "./errors";
import type { EmulatorHost, Reply, Request, Scope, Register } from "./model";
import { PUBSUB_ROLES } from "./roles";
import { ResourcePolicy, iamPolicyJson, policyGrants, replacedPolicy } from "./policy";
import { pubsubServiceAgentOf } from "./resourcemanager";
import { ExportConfig, ExportRefusal, ExportRunner, bigQueryExport, cloudStorageExport, exportJson } from "./pubsub-exports";

export interface PubsubMessage {
  messageId: string;
  data: Buffer;
  attributes: Record<string, string>;
  orderingKey?: string;
  /** Milliseconds on the Pub/Sub clock. */
  publishTime: number;
}

export interface TopicState {
  /** projects/{project}/topics/{id} */
  name: string;
  project: string;
  id: string;
  labels?: Record<string, string>;
  messageRetentionDuration?: string;
  policy: ResourcePolicy;
  /** Every message published to this topic, in order (what `published()` shows a test). */
  published: PubsubMessage[];
}

/** A message waiting in a subscription: available when `availableAt` has passed, else leased to a puller. */
export interface Lease {
  message: PubsubMessage;
  /** Deliveries so far (1 + nacks + expired deadlines, once delivered again). */
  attempts: number;
  ackId?: string;
  availableAt: number;
}

export interface SubscriptionState {
  /** projects/{project}/subscriptions/{id} */
  name: string;
  project: string;
  id: string;
  /** The topic's full name, or `_deleted-topic_` once the topic is deleted. */
  topic: string;
  ackDeadlineSeconds: number;
  messageRetentionDuration: string;
  retainAckedMessages: boolean;
  filter?: string;
  matches: (attributes: Record<string, string>) => boolean;
  deadLetterPolicy?: { deadLetterTopic: string; maxDeliveryAttempts: number };
  /** `ttl` absent: never expires. */
  expirationPolicy: { ttl?: string };
  retryPolicy?: { minimumBackoff: string; maximumBackoff: string };
  enableMessageOrdering: boolean;
  labels?: Record<string, string>;
  policy: ResourcePolicy;
  backlog: Lease[];
  /** A Cloud Storage or BigQuery subscription's config: the emulator writes its messages there (pubsub-exports.ts). */
  export?: ExportConfig;
  /** Acknowledged messages kept because retainAckedMessages is set (for seek, which the emulator lacks). */
  acked: PubsubMessage[];
  lastActivity: number;
}

const DELETED_TOPIC = "_deleted-topic_";
/** The etag of a policy never set (Pub/Sub answers {"etag":"ACAB"} for one; seen in google-cloud-python#1654). */
const EMPTY_POLICY_ETAG = "ACAB";
/** The ack ids `pull` hands out: 24 random bytes in base64url. */
const ACK_ID = /^[A-Za-z0-9_-]{32}$/;
const NAMES_HELP = "Refer to https://cloud.google.com/pubsub/docs/admin#resource_names for more information.";
const MINUTE = 60;
const DAY = 86_400;

export class PubsubApi {
  /** By full name (projects/{p}/topics/{t}). */
  readonly topics = new Map<string, TopicState>();
  /** By full name (projects/{p}/subscriptions/{s}). */
  readonly subscriptions = new Map<string, SubscriptionState>();
  /** How long a pull with nothing to deliver waits for a message (unless returnImmediately). */
  pullWaitMs = 1000;
  private clockOffsetMs = 0;
  private nextMessageId = 4_000_000_000_000 + crypto.randomInt(1_000_000_000);

  private readonly exports: ExportRunner;
  private readonly exportTimer: NodeJS.Timeout;

  constructor(private readonly emu: EmulatorHost) {
    this.exports = new ExportRunner(
      {
        writeObject: (principal, bucket, name, data, contentType) => emu.storage.writeAs(principal, bucket, name, data, contentType),
        insertRows: (principal, table, messages, config) => emu.bigquery.insertAs(principal, table, messages, config),
        serviceAgent: pubsubServiceAgentOf,
        bucketWritable: (principal, bucket) => {
          const b = emu.storage.buckets.get(bucket);
          if (!b) throw new ExportRefusal("NOT_FOUND", `Bucket ${bucket} not found.`, 404); // own words
          for (const permission of ["storage.buckets.get", "storage.objects.create"]) {
            if (!emu.allowed(principal, permission, { project: b.project, bucket }))
              throw new ExportRefusal("PERMISSION_DENIED", `The caller does not have permission (${principal} lacks ${permission} on bucket ${bucket})`, 403);
          }
        },
        tableWritable: (principal, table, config) => void emu.bigquery.exportTable(principal, table, config),
      },
      () => this.now(),
    );
    // Export subscriptions are served by the emulator itself, as Pub/Sub serves them: every 200 ms.
    this.exportTimer = setInterval(() => void this.runExports().catch(() => undefined), 200);
    this.exportTimer.unref();
  }

  /** Writes what the export subscriptions have due (also what a test calls after `advance`). */
  async runExports(): Promise<void> {
    this.settleAll();
    await this.exports.tick(this.subscriptions.values());
  }

  stop(): void {
    clearInterval(this.exportTimer);
  }

  /** The Pub/Sub clock: wall time plus whatever `advance` added. */
  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  /** Moves the Pub/Sub clock forward (ack deadlines, retention, expiration), as if `ms` had passed. */
  advance(ms: number): void {
    this.clockOffsetMs += ms;
  }

  /** Every message published to a topic (full name, or an id of the emulator's project), oldest first. */
  published(topic: string): PubsubMessage[] {
    this.settleAll();
    return [...(this.topics.get(topic.includes("/") ? topic : `projects/${this.emu.project}/topics/${topic}`)?.published ?? [])];
  }

  register(add: Register): void {
    const P = "/v1/projects/([^/]+)";
    const T = `${P}/topics/([^/:]+)`;
    const S = `${P}/subscriptions/([^/:]+)`;
    const route = (method: string, re: string, h: (r: Request) => Reply | Promise<Reply>) =>
      add(method, new RegExp(`^${re}$`), (r) => {
        this.settleAll();
        return h(r);
      });
    route("PUT", T, (r) => this.createTopic(r));
    route("GET", T, (r) => ({ json: this.topicJson(this.topic(r, "pubsub.topics.get")) }));
    route("PATCH", T, (r) => this.patchTopic(r));
    route("DELETE", T, (r) => this.deleteTopic(r));
    route("GET", `${P}/topics`, (r) => this.list(r, "topics"));
    route("POST", `${T}:publish`, (r) => this.publishCall(r));
    route("PUT", S, (r) => this.createSubscription(r));
    route("GET", S, (r) => ({ json: this.subscriptionJson(this.subscription(r, "pubsub.subscriptions.get")) }));
    route("PATCH", S, (r) => this.patchSubscription(r));
    route("DELETE", S, (r) => this.deleteSubscription(r));
    route("GET", `${P}/subscriptions`, (r) => this.list(r, "subscriptions"));
    route("POST", `${S}:pull`, (r) => this.pull(r));
    route("POST", `${S}:acknowledge`, (r) => this.acknowledge(r));
    route("POST", `${S}:modifyAckDeadline`, (r) => this.modifyAckDeadline(r));
    for (const [kind, re] of [
      ["topics", T],
      ["subscriptions", S],
    ] as const) {
      // getIamPolicy is a GET in Pub/Sub's REST mapping (research doc §8); POST, the IAM default, is taken too.
      route("GET", `${re}:getIamPolicy`, (r) => this.getPolicy(r, kind));
      route("POST", `${re}:getIamPolicy`, (r) => this.getPolicy(r, kind));
      route("POST", `${re}:setIamPolicy`, (r) => this.setPolicy(r, kind));
      route("POST", `${re}:testIamPermissions`, (r) => this.testPermissions(r, kind));
    }
  }

  /**
   * Does the topic's or subscription's own policy (scope.topic / scope.subscription, an id in
   * scope.project) grant `permission`? A policy grants only its own resource type's permissions.
   */
  grants(scope: Scope, principal: string, permission: string): boolean {
    const kind = scope.topic !== undefined ? "topics" : "subscriptions";
    if (!permission.startsWith(`pubsub.${kind}.`)) return false;
    const name = `projects/${scope.project}/${kind}/${kind === "topics" ? scope.topic : scope.subscription}`;
    const resource = kind === "topics" ? this.topics.get(name) : this.subscriptions.get(name);
    return resource ? policyGrants(this.emu, resource.policy, principal, permission) : false;
  }

  /** May the subscription's project's Pub/Sub service agent move its messages to `target`? */
  private mayForward(s: SubscriptionState, target: TopicState): boolean {
    const agent = pubsubServiceAgentOf(s.project);
    const [, targetProject, , targetId] = target.name.split("/");
    return (
      this.grants({ project: targetProject, topic: targetId }, agent, "pubsub.topics.publish") &&
      this.grants({ project: s.project, subscription: s.id }, agent, "pubsub.subscriptions.consume")
    );
  }

  // ---------------------------------------------------------------- names and lookups

  /** The resource id rules of topics.create / subscriptions.create (research doc §8, "Names"). */
  private checkName(kind: "topics" | "subscriptions", project: string, id: string): void {
    if (!validId(id)) throw invalid(`Invalid resource name given (name=projects/${project}/${kind}/${id}). ${NAMES_HELP}`);
  }

  /**
   * The topic or subscription a request's path names, with `permission` on it. A missing one is 404
   * to a caller holding the permission on the project, 403 to one who does not (its own grants
   * cannot be seen).
   */
  private lookup<T>(r: Pick<Request, "params" | "principal">, kind: "topics" | "subscriptions", permission: string): T {
    const [project, id] = r.params;
    this.checkName(kind, project, id);
    const name = `projects/${project}/${kind}/${id}`;
    const found = (kind === "topics" ? this.topics : this.subscriptions).get(name) as T | undefined;
    if (!found) {
      this.emu.require("pubsub", r.principal, permission, { project }, name);
      throw notFound(id);
    }
    this.emu.require("pubsub", r.principal, permission, { project, ...(kind === "topics" ? { topic: id } : { subscription: id }) }, name);
    return found;
  }

  private topic(r: Pick<Request, "params" | "principal">, permission: string): TopicState {
    return this.lookup<TopicState>(r, "topics", permission);
  }

  private subscription(r: Request, permission: string): SubscriptionState {
    return this.lookup<SubscriptionState>(r, "subscriptions", permission);
  }

  private list(r: Request, kind: "topics" | "subscriptions"): Reply {
    const [project] = r.params;
    this.emu.require("pubsub", r.principal, `pubsub.${kind}.list`, { project }, `projects/${project}`);
    const all =
      kind === "topics"
        ? [...this.topics.values()].filter((t) => t.project === project).map((t) => this.topicJson(t))
        : [...this.subscriptions.values()].filter((s) => s.project === project).map((s) => this.subscriptionJson(s));
    all.sort((a: any, b: any) => (a.name < b.name ? -1 : 1));
    const size = Math.min(Number(r.query.get("pageSize") ?? 100) || 100, 1000);
    const start = Number(r.query.get("pageToken") ?? 0) || 0;
    const page = all.slice(start, start + size);
    return { json: { ...(page.length ? { [kind]: page } : {}), ...(start + size < all.length ? { nextPageToken: String(start + size) } : {}) } };
  }

  // ---------------------------------------------------------------- topics

  private createTopic(r: Request): Reply {
    const [project, id] = r.params;
    this.checkName("topics", project, id);
    const name = `projects/${project}/topics/${id}`;
    this.emu.require("pubsub", r.principal, "pubsub.topics.create", { project }, `projects/${project}`);
    if (this.topics.has(name)) throw alreadyExists(id);
    const body = r.json<Record<string, any>>();
    const t: TopicState = { name, project, id, policy: { bindings: [], etag: EMPTY_POLICY_ETAG }, published: [] };
    if (body.labels !== undefined) t.labels = checkLabels(body.labels);
    if (body.messageRetentionDuration !== undefined) t.messageRetentionDuration = retention(body.messageRetentionDuration, "message_retention_duration");
    this.topics.set(name, t);
    return { json: this.topicJson(t) };
  }

  private topicJson(t: TopicState): unknown {
    return {
      name: t.name,
      ...(t.labels && Object.keys(t.labels).length ? { labels: t.labels } : {}),
      ...(t.messageRetentionDuration ? { messageRetentionDuration: t.messageRetentionDuration } : {}),
    };
  }

  private patchTopic(r: Request): Reply {
    const t = this.topic(r, "pubsub.topics.update");
    const body = r.json<{ topic?: Record<string, any>; updateMask?: string }>();
    const given = body.topic ?? {};
    for (const path of maskPaths(body.updateMask)) {
      if (path === "labels") t.labels = given.labels === undefined ? undefined : checkLabels(given.labels);
      else if (path === "messageRetentionDuration") {
        t.messageRetentionDuration =
          given.messageRetentionDuration === undefined ? undefined : retention(given.messageRetentionDuration, "topic.message_retention_duration");
      } else throw invalid(`Invalid update_mask provided in the UpdateTopicRequest: '${path}' is not a known Topic field this emulator can update.`); // own words
    }
    return { json: this.topicJson(t) };
  }

  private deleteTopic(r: Request): Reply {
    const t = this.topic(r, "pubsub.topics.delete");
    this.topics.delete(t.name);
    // "Existing subscriptions to this topic are not deleted, but their topic field is set to _deleted-topic_."
    for (const s of this.subscriptions.values()) if (s.topic === t.name) s.topic = DELETED_TOPIC;
    return { json: {} };
  }

  private publishCall(r: Request): Reply {
    const t = this.topic(r, "pubsub.topics.publish");
    const body = r.json<{ messages?: unknown }>();
    const raw = Array.isArray(body.messages) ? body.messages : [];
    checkMessageCount(raw.length);
    const messages = raw.map((m: any, i: number) =>
      checkNotEmpty({
        data: decodeBytes(m?.data, `messages[${i}].data`),
        attributes: checkAttributes(m?.attributes, i),
        orderingKey: typeof m?.orderingKey === "string" ? m.orderingKey : "",
      }),
    );
    return { json: { messageIds: messages.map((m) => this.publish(t, m).messageId) } };
  }

  /**
   * A publish made by `principal` outside REST (the gRPC Publisher, pubsub-grpc.ts): the same checks
   * and errors as `topics.publish`. `topic` is the full name, as gRPC requests carry it.
   */
  publishAs(principal: string, topic: string, messages: { data: Buffer; attributes: Record<string, string>; orderingKey: string }[]): string[] {
    this.settleAll();
    const m = /^projects\/([^/]+)\/topics\/([^/]+)$/.exec(topic);
    if (!m) throw invalid(`Invalid resource name given (topic=${topic}). ${NAMES_HELP}`);
    const t = this.topic({ params: [m[1], m[2]], principal }, "pubsub.topics.publish");
    checkMessageCount(messages.length);
    return messages.map(checkNotEmpty).map((x) => this.publish(t, x).messageId);
  }

  /**
   * Publishes one message: kept on the topic for tests, and queued on every subscription attached to
   * the topic whose filter matches its attributes (one that does not match is acknowledged at once,
   * i.e. never queued).
   */
  private publish(t: TopicState, m: { data: Buffer; attributes: Record<string, string>; orderingKey?: string }): PubsubMessage {
    const message: PubsubMessage = {
      messageId: String(this.nextMessageId++),
      data: m.data,
      attributes: m.attributes,
      publishTime: this.now(),
      ...(m.orderingKey ? { orderingKey: m.orderingKey } : {}),
    };
    t.published.push(message);
    for (const s of this.subscriptions.values()) {
      if (s.topic === t.name && s.matches(message.attributes)) s.backlog.push({ message, attempts: 0, availableAt: 0 });
    }
    return message;
  }

  // ---------------------------------------------------------------- subscriptions

  private createSubscription(r: Request): Reply {
    const [project, id] = r.params;
    this.checkName("subscriptions", project, id);
    const name = `projects/${project}/subscriptions/${id}`;
    this.emu.require("pubsub", r.principal, "pubsub.subscriptions.create", { project }, `projects/${project}`);
    if (this.subscriptions.has(name)) throw alreadyExists(id);
    const body = r.json<Record<string, any>>();
    const topicName = String(body.topic ?? "");
    const tm = /^projects\/([^/]+)\/topics\/([^/]+)$/.exec(topicName);
    if (!tm || !validId(tm[2])) throw invalid(`Invalid resource name given (topic=${topicName}). ${NAMES_HELP}`);
    const [, topicProject, topicId] = tm;
    // pubsub.topics.attachSubscription on the topic (access-control "Required permissions").
    const topic = this.topics.get(topicName);
    if (!topic) {
      this.emu.require("pubsub", r.principal, "pubsub.topics.attachSubscription", { project: topicProject }, topicName);
      throw notFound(topicId);
    }
    this.emu.require("pubsub", r.principal, "pubsub.topics.attachSubscription", { project: topicProject, topic: topicId }, topicName);
    if (body.pushConfig?.pushEndpoint) throw invalid("Push subscriptions are not supported by this emulator (pull only)."); // own words
    // One delivery type per subscription (Subscription: push_config, bigquery_config and cloud_storage_config are alternatives).
    if (body.cloudStorageConfig && body.bigqueryConfig) throw invalid("A subscription can have only one of bigquery_config and cloud_storage_config."); // own words
    const exportConfig = body.cloudStorageConfig
      ? cloudStorageExport(body.cloudStorageConfig)
      : body.bigqueryConfig
        ? bigQueryExport(body.bigqueryConfig)
        : undefined;
    if (exportConfig) this.exports.checkCreate(project, exportConfig);
    const filter = typeof body.filter === "string" && body.filter !== "" ? body.filter : undefined;
    const s: SubscriptionState = {
      name,
      project,
      id,
      topic: topicName,
      ackDeadlineSeconds: 10,
      messageRetentionDuration: "604800s",
      retainAckedMessages: false,
      ...(filter ? { filter } : {}),
      matches: filter ? parseFilter(filter) : () => true,
      expirationPolicy: { ttl: `${31 * DAY}s` },
      enableMessageOrdering: Boolean(body.enableMessageOrdering),
      policy: { bindings: [], etag: EMPTY_POLICY_ETAG },
      backlog: [],
      acked: [],
      lastActivity: this.now(),
      ...(exportConfig ? { export: exportConfig } : {}),
    };
    this.applySettable(
      s,
      body,
      ["ackDeadlineSeconds", "messageRetentionDuration", "retainAckedMessages", "labels", "deadLetterPolicy", "expirationPolicy", "retryPolicy"],
      "",
    );
    this.subscriptions.set(name, s);
    return { json: this.subscriptionJson(s) };
  }

  /** Sets the fields named in `paths` from `given`, each checked; an absent field returns to its default. */
  private applySettable(s: SubscriptionState, given: Record<string, any>, paths: string[], prefix: string): void {
    for (const path of paths) {
      const v = given[path];
      const field = prefix + snake(path);
      if (path === "ackDeadlineSeconds") {
        const n = v === undefined || v === null ? 0 : Number(v);
        if (!Number.isInteger(n) || (n !== 0 && (n < 10 || n > 600))) {
          throw invalid(`Invalid ${field}: ${v}. The ack deadline must be between 10 and 600 seconds.`); // own words
        }
        s.ackDeadlineSeconds = n || 10;
      } else if (path === "messageRetentionDuration") {
        s.messageRetentionDuration = v === undefined || v === null ? "604800s" : retention(v, field);
      } else if (path === "retainAckedMessages") {
        s.retainAckedMessages = Boolean(v);
        if (!s.retainAckedMessages) s.acked = [];
      } else if (path === "labels") {
        s.labels = v === undefined || v === null ? undefined : checkLabels(v);
      } else if (path === "deadLetterPolicy") {
        s.deadLetterPolicy = v === undefined || v === null ? undefined : this.deadLetterPolicy(v);
      } else if (path === "expirationPolicy") {
        if (v === undefined || v === null) s.expirationPolicy = { ttl: `${31 * DAY}s` };
        else if (v.ttl === undefined || v.ttl === null || v.ttl === "") s.expirationPolicy = {};
        else {
          const ttl = parseDuration(v.ttl, `${field}.ttl`);
          if (ttl < DAY || ttl > 31 * DAY) throw invalid(`Invalid ${field}.ttl: ${v.ttl}. The expiration TTL must be between 1 day and 31 days.`); // own words
          s.expirationPolicy = { ttl: `${ttl}s` };
        }
      } else if (path === "cloudStorageConfig" || path === "bigqueryConfig") {
        // Changing or removing an export: the file being written is given up, its messages available again.
        const next = v ? (path === "cloudStorageConfig" ? cloudStorageExport(v) : bigQueryExport(v)) : undefined;
        if (next) this.exports.checkCreate(s.project, next);
        const kind = path === "cloudStorageConfig" ? "cloudStorage" : "bigquery";
        if (next || s.export?.kind === kind) {
          if (s.export?.kind === "cloudStorage") for (const l of s.export.open?.leases ?? []) l.availableAt = 0;
          s.export = next;
        }
      } else if (path === "retryPolicy") {
        if (v === undefined || v === null) s.retryPolicy = undefined;
        else {
          const min = v.minimumBackoff === undefined ? 10 : parseDuration(v.minimumBackoff, `${field}.minimum_backoff`);
          const max = v.maximumBackoff === undefined ? 600 : parseDuration(v.maximumBackoff, `${field}.maximum_backoff`);
          if (min < 0 || min > 600 || max < 0 || max > 600 || min > max) {
            throw invalid(`Invalid ${field}: backoffs must be between 0 and 600 seconds, the minimum not above the maximum.`); // own words
          }
          s.retryPolicy = { minimumBackoff: `${min}s`, maximumBackoff: `${max}s` };
        }
      }
    }
  }

  private deadLetterPolicy(v: any): { deadLetterTopic: string; maxDeliveryAttempts: number } {
    const topic = String(v.deadLetterTopic ?? "");
    const m = /^projects\/([^/]+)\/topics\/([^/]+)$/.exec(topic);
    // Quoted form (goblet/goblet#399).
    if (!m || !validId(m[2])) throw invalid(`Invalid resource name given (dead_letter_topic=${topic}). ${NAMES_HELP}`);
    // "The operation will fail if the topic does not exist" (DeadLetterPolicy.dead_letter_topic).
    if (!this.topics.has(topic)) throw notFound(m[2]);
    const n = v.maxDeliveryAttempts === undefined || v.maxDeliveryAttempts === null ? 0 : Number(v.maxDeliveryAttempts);
    if (!Number.isInteger(n) || (n !== 0 && (n < 5 || n > 100))) {
      throw invalid(`Invalid dead_letter_policy.max_delivery_attempts: ${v.maxDeliveryAttempts}. It must be between 5 and 100.`); // own words
    }
    return { deadLetterTopic: topic, maxDeliveryAttempts: n || 5 };
  }

  private subscriptionJson(s: SubscriptionState): unknown {
    return {
      name: s.name,
      topic: s.topic,
      pushConfig: {},
      ackDeadlineSeconds: s.ackDeadlineSeconds,
      ...(s.retainAckedMessages ? { retainAckedMessages: true } : {}),
      messageRetentionDuration: s.messageRetentionDuration,
      ...(s.labels && Object.keys(s.labels).length ? { labels: s.labels } : {}),
      ...(s.enableMessageOrdering ? { enableMessageOrdering: true } : {}),
      expirationPolicy: { ...s.expirationPolicy },
      ...(s.filter ? { filter: s.filter } : {}),
      ...(s.deadLetterPolicy ? { deadLetterPolicy: { ...s.deadLetterPolicy } } : {}),
      ...(s.retryPolicy ? { retryPolicy: { ...s.retryPolicy } } : {}),
      ...(s.export ? exportJson(s.export) : {}),
      state: "ACTIVE",
    };
  }

  private patchSubscription(r: Request): Reply {
    const s = this.subscription(r, "pubsub.subscriptions.update");
    const body = r.json<{ subscription?: Record<string, any>; updateMask?: string }>();
    const paths = maskPaths(body.updateMask);
    const settable = [
      "ackDeadlineSeconds",
      "messageRetentionDuration",
      "retainAckedMessages",
      "labels",
      "deadLetterPolicy",
      "expirationPolicy",
      "retryPolicy",
      "cloudStorageConfig",
      "bigqueryConfig",
    ];
    for (const path of paths) {
      if (path === "pushConfig" && !body.subscription?.pushConfig?.pushEndpoint) continue;
      if (!settable.includes(path)) {
        // The filter, the topic and message ordering are fixed at creation (Subscription field docs); own words.
        throw invalid(`Invalid update_mask provided in the UpdateSubscriptionRequest: the '${snake(path)}' field cannot be updated.`);
      }
    }
    // All checked before any is written: a refused update changes nothing.
    const draft: SubscriptionState = { ...s };
    this.applySettable(
      draft,
      body.subscription ?? {},
      paths.filter((p) => settable.includes(p)),
      "subscription.",
    );
    Object.assign(s, draft, { lastActivity: this.now() });
    return { json: this.subscriptionJson(s) };
  }

  private deleteSubscription(r: Request): Reply {
    const s = this.subscription(r, "pubsub.subscriptions.delete");
    this.subscriptions.delete(s.name);
    return { json: {} };
  }

  // ---------------------------------------------------------------- delivery

  /** Expiration, retention and dead-lettering, brought up to the Pub/Sub clock for every subscription. */
  private settleAll(): void {
    const now = this.now();
    for (const s of [...this.subscriptions.values()]) {
      const ttl = s.expirationPolicy.ttl ? parseDuration(s.expirationPolicy.ttl, "ttl") : undefined;
      if (ttl !== undefined && now - s.lastActivity > ttl * 1000) {
        this.subscriptions.delete(s.name);
        continue;
      }
      this.settle(s, now);
    }
  }

  private settle(s: SubscriptionState, now: number): void {
    const retentionMs = parseDuration(s.messageRetentionDuration, "retention") * 1000;
    s.backlog = s.backlog.filter((l) => now - l.message.publishTime < retentionMs);
    const dl = s.deadLetterPolicy;
    if (!dl) return;
    const target = this.topics.get(dl.deadLetterTopic);
    if (!target) return; // forwarding fails: the message stays and is delivered again
    // Pub/Sub forwards as the subscription project's service agent, which needs publish on the
    // dead-letter topic and consume on this subscription (roles/pubsub.publisher, roles/pubsub.subscriber:
    // pubsub/docs/dead-letter-topics). Without them nothing is forwarded: "Pub/Sub counts delivery
    // attempts only when the dead-letter topic is configured correctly and includes the correct IAM
    // permissions", so the message stays and is delivered again.
    if (!this.mayForward(s, target)) return;
    s.backlog = s.backlog.filter((l) => {
      if (l.availableAt > now || l.attempts < dl.maxDeliveryAttempts) return true;
      // The attributes Pub/Sub adds to a forwarded message (pubsub/docs/handling-failures; names from
      // Google's docs as remembered — UNCONFIRMED against a stored copy).
      this.publish(target, {
        data: l.message.data,
        attributes: {
          ...l.message.attributes,
          CloudPubSubDeadLetterSourceDeliveryCount: String(l.attempts),
          CloudPubSubDeadLetterSourceSubscription: s.id,
          CloudPubSubDeadLetterSourceSubscriptionProject: s.project,
          CloudPubSubDeadLetterSourceTopicPublishTime: new Date(l.message.publishTime).toISOString(),
        },
        orderingKey: l.message.orderingKey,
      });
      return false;
    });
  }

  private async pull(r: Request): Promise<Reply> {
    const s = this.subscription(r, "pubsub.subscriptions.consume");
    // Pub/Sub delivers an export subscription's messages itself; no client pulls them (own words).
    if (s.export)
      throw new ApiError(
        400,
        `Subscription ${s.id} is a ${s.export.kind === "bigquery" ? "BigQuery" : "Cloud Storage"} subscription; its messages are not pulled.`,
        { status: "FAILED_PRECONDITION" },
      );
    const body = r.json<{ maxMessages?: unknown; returnImmediately?: boolean }>();
    const max = Number(body.maxMessages);
    // Quoted from the real service (google-cloud-dotnet#5378).
    if (!Number.isInteger(max) || max <= 0) throw invalid("You have passed an invalid argument to the service (argument=max_messages).");
    const until = Date.now() + (body.returnImmediately ? 0 : this.pullWaitMs);
    let ready: Lease[];
    for (;;) {
      if (this.subscriptions.get(s.name) !== s) throw notFound(s.id);
      this.settle(s, this.now());
      ready = s.backlog.filter((l) => l.availableAt <= this.now()).slice(0, max);
      if (ready.length || Date.now() >= until) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const now = this.now();
    s.lastActivity = now;
    const receivedMessages = ready.map((l) => {
      l.attempts++;
      l.ackId = crypto.randomBytes(24).toString("base64url"); // 32 characters: ACK_ID
      l.availableAt = now + s.ackDeadlineSeconds * 1000;
      // deliveryAttempt only with a dead-letter policy (ReceivedMessage.delivery_attempt).
      return { ackId: l.ackId, message: messageJson(l.message), ...(s.deadLetterPolicy ? { deliveryAttempt: l.attempts } : {}) };
    });
    // "For JSON, the response can be entirely empty" when nothing is delivered.
    return { json: receivedMessages.length ? { receivedMessages } : {} };
  }

  private ackIds(body: { ackIds?: unknown }): string[] {
    const ids = Array.isArray(body.ackIds) ? body.ackIds : [];
    if (ids.length === 0) throw invalid("You have passed an invalid argument to the service (argument=ack_ids)."); // the dotnet#5378 form
    for (const id of ids) {
      // Only an id of the shape this emulator issues is an ack id (a stale or unknown one of that shape is
      // ignored, as Pub/Sub ignores expired ones); anything else is refused, as Pub/Sub refuses an id it
      // cannot decode (Google's emulator 0.8.20 too: 400 for "bogus", stand-ins/conformance/python/pubsub.py).
      if (typeof id !== "string" || !ACK_ID.test(id)) throw invalid(`You have passed an invalid ack ID to the service (ack_id=${String(id)}).`);
    }
    return ids as string[];
  }

  /** Acknowledges the messages whose current delivery has these ack ids; others (stale, unknown) are ignored. */
  private acknowledge(r: Request): Reply {
    const s = this.subscription(r, "pubsub.subscriptions.consume");
    const ids = new Set(this.ackIds(r.json()));
    s.backlog = s.backlog.filter((l) => {
      if (!l.ackId || !ids.has(l.ackId)) return true;
      if (s.retainAckedMessages) s.acked.push(l.message);
      return false;
    });
    s.lastActivity = this.now();
    return { json: {} };
  }

  /** A new deadline from now for these deliveries; 0 is a nack (delivered again at once, or after the retry policy's backoff). */
  private modifyAckDeadline(r: Request): Reply {
    const s = this.subscription(r, "pubsub.subscriptions.consume");
    const body = r.json<{ ackIds?: unknown; ackDeadlineSeconds?: unknown }>();
    const ids = new Set(this.ackIds(body));
    const seconds = Number(body.ackDeadlineSeconds ?? 0);
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 600) {
      throw invalid("You have passed an invalid argument to the service (argument=ack_deadline_seconds)."); // the dotnet#5378 form
    }
    const now = this.now();
    for (const l of s.backlog) {
      if (!l.ackId || !ids.has(l.ackId)) continue;
      l.availableAt = now + seconds * 1000;
      if (seconds === 0 && s.retryPolicy) {
        // Exponential backoff between the policy's bounds (Subscription.retry_policy).
        const min = parseDuration(s.retryPolicy.minimumBackoff, "min");
        const max = parseDuration(s.retryPolicy.maximumBackoff, "max");
        l.availableAt = now + Math.min(max, min * 2 ** Math.max(0, l.attempts - 1)) * 1000;
      }
    }
    s.lastActivity = now;
    this.settle(s, now);
    return { json: {} };
  }

  // ---------------------------------------------------------------- IAM

  private resourceFor(r: Request, kind: "topics" | "subscriptions", permission: string): TopicState | SubscriptionState {
    return kind === "topics" ? this.topic(r, permission) : this.subscription(r, permission);
  }

  private getPolicy(r: Request, kind: "topics" | "subscriptions"): Reply {
    const res = this.resourceFor(r, kind, `pubsub.${kind}.getIamPolicy`);
    return { json: iamPolicyJson(res.policy) };
  }

  private setPolicy(r: Request, kind: "topics" | "subscriptions"): Reply {
    const res = this.resourceFor(r, kind, `pubsub.${kind}.setIamPolicy`);
    // own words for the refusal of a condition
    res.policy = replacedPolicy(
      this.emu,
      r.json(),
      res.policy,
      PUBSUB_ROLES,
      "IAM conditions on Pub/Sub topics and subscriptions are not supported by this emulator.",
    );
    return { json: iamPolicyJson(res.policy) };
  }

  /**
   * The subset of `permissions` the caller holds on the resource. Needs no permission itself, and a
   * missing resource gives an empty set, not 404 (testIamPermissions reference).
   */
  private testPermissions(r: Request, kind: "topics" | "subscriptions"): Reply {
    const [project, id] = r.params;
    this.checkName(kind, project, id);
    const asked = r.json<{ permissions?: unknown }>().permissions;
    const permissions = Array.isArray(asked) ? asked.map(String) : [];
    for (const p of permissions) {
      // IAM refuses wildcards in a permission test (own words for the text).
      if (p.includes("*")) throw invalid(`Permissions with wildcards (such as '*' or 'pubsub.*') are not allowed: ${p}`);
    }
    const exists = kind === "topics" ? this.topics.has(`projects/${project}/topics/${id}`) : this.subscriptions.has(`projects/${project}/subscriptions/${id}`);
    const scope: Scope = kind === "topics" ? { project, topic: id } : { project, subscription: id };
    const held = exists ? [...new Set(permissions)].filter((p) => this.emu.allowed(r.principal, p, scope)) : [];
    return { json: held.length ? { permissions: held } : {} };
  }
}

// ------------------------------------------------------------------ helpers

/** 3–255 characters, a letter first, then letters, digits and - _ . ~ + %; not starting with "goog". */
function validId(id: string): boolean {
  return /^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/.test(id) && !/^goog/i.test(id);
}

// Quoted forms (research doc §8: selkies-project/selkies-operator#54, google-cloud-python#1654).
const notFound = (id: string) => new ApiError(404, `Resource not found (resource=${id}).`);
const alreadyExists = (id: string) => new ApiError(409, `Resource already exists in the project (resource=${id}).`);

function snake(path: string): string {
  return path.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
}

function camel(path: string): string {
  return path.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** An update mask's paths in camelCase (a mask may be written either way); one is required. */
function maskPaths(mask: string | undefined): string[] {
  const paths = String(mask ?? "")
    .split(",")
    .map((p) => camel(p.trim()))
    .filter(Boolean);
  if (paths.length === 0) throw invalid("You have passed an invalid argument to the service (argument=update_mask)."); // the dotnet#5378 form
  return paths;
}

/** A message retention duration: 10 minutes to 31 days (Subscription/Topic message_retention_duration). */
function retention(v: unknown, field: string): string {
  const s = parseDuration(v, field);
  if (s < 10 * MINUTE || s > 31 * DAY) throw invalid(`Invalid ${field}: ${String(v)}. It must be between 10 minutes and 31 days.`); // own words
  return `${s}s`;
}

/** A message with neither data nor attributes is refused. */
function checkNotEmpty<M extends { data: Buffer; attributes: Record<string, string> }>(m: M): M {
  if (m.data.length === 0 && Object.keys(m.attributes).length === 0) {
    // Quoted from the real service (snowplow/snowbridge#34).
    throw invalid("One or more messages in the publish request is empty. Each message must contain either non-empty data, or at least one attribute.");
  }
  return m;
}

/** A publish request's message count: 1 to 1000. */
function checkMessageCount(n: number): void {
  // Quoted from the real service (google-api-nodejs-client#519; google-cloud-python#1955).
  if (n === 0) throw invalid("The value for message_count is too small. You passed 0 in the request, but the minimum value is 1.");
  if (n > 1000) throw invalid(`The value for message_count is too large. You passed ${n} in the request, but the maximum value is 1000.`); // by analogy
}

/** Base64 bytes as protobuf JSON takes them: standard or URL-safe alphabet, padding optional. */
function decodeBytes(v: unknown, field: string): Buffer {
  if (v === undefined || v === null || v === "") return Buffer.alloc(0);
  if (typeof v !== "string" || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v) || v.replace(/=+$/, "").length % 4 === 1) {
    throw invalid(`Invalid value at '${field}' (TYPE_BYTES), Base64 decoding failed for "${String(v)}"`);
  }
  return Buffer.from(v.replace(/-/g, "+").replace(/_/g, "/"), "base64");
}

function checkAttributes(v: unknown, i: number): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw invalid(`Invalid value at 'messages[${i}].attributes': not a map of strings.`); // own words
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== "string") throw invalid(`Invalid value at 'messages[${i}].attributes[${k}]' (TYPE_STRING).`); // own words
    out[k] = val;
  }
  return out;
}

/** Labels as Google's label rules have them (lowercase key with a letter first, ≤ 63 characters each). */
function checkLabels(v: unknown): Record<string, string> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw invalid("Invalid labels: a map of strings is required."); // own words
  for (const [k, val] of Object.entries(v)) {
    if (!/^[a-z][a-z0-9_-]{0,62}$/.test(k) || typeof val !== "string" || !/^[a-z0-9_-]{0,63}$/.test(val)) {
      throw invalid(`Invalid label ${k}: keys start with a lowercase letter; keys and values have at most 63 lowercase letters, digits, - and _.`); // own words
    }
  }
  return { ...(v as Record<string, string>) };
}

function messageJson(m: PubsubMessage): unknown {
  // proto3 JSON leaves empty fields out: no data for an attributes-only message, no attributes when none.
  return {
    ...(m.data.length ? { data: m.data.toString("base64") } : {}),
    ...(Object.keys(m.attributes).length ? { attributes: { ...m.attributes } } : {}),
    messageId: m.messageId,
    publishTime: new Date(m.publishTime).toISOString(),
    ...(m.orderingKey ? { orderingKey: m.orderingKey } : {}),
  };
}

// ------------------------------------------------------------------ filters

type Node =
  | { op: "has"; key: string }
  | { op: "eq"; key: string; value: string }
  | { op: "prefix"; key: string; value: string }
  | { op: "not"; arg: Node }
  | { op: "and" | "or"; args: Node[] };

/**
 * The subscription filter language, the part the emulator supports (pubsub/docs/subscription-message-filter):
 * `attributes:key`, `attributes.key = "v"`, `hasPrefix(attributes.key, "v")`, NOT, AND, OR and
 * parentheses; AND and OR may not be mixed without parentheses; at most 256 bytes. A key is letters,
 * digits, - and _, or a string literal. `!=` is refused (its meaning for a missing key is not
 * confirmed here), as is anything else.
 */
export function parseFilter(filter: string): (attributes: Record<string, string>) => boolean {
  const fail = (why: string): never => {
    throw invalid(`Invalid filter: ${why} (filter=${filter}).`); // own words
  };
  if (Buffer.byteLength(filter) > 256) fail("a filter is at most 256 bytes");
  const tokens: { t: string; v?: string }[] = [];
  const re = /\s*(?:(\()|(\))|(,)|(!=)|(=)|(:)|(\.)|"((?:[^"\\]|\\.)*)"|([A-Za-z0-9_-]+))/y;
  let pos = 0;
  while (pos < filter.length) {
    if (/^\s*$/.test(filter.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(filter);
    if (!m) fail(`unexpected character at ${pos}`);
    pos = re.lastIndex;
    if (m![8] !== undefined) {
      let v = "";
      try {
        v = JSON.parse(`"${m![8]}"`);
      } catch {
        fail(`unsupported escape in the string literal "${m![8]}"`);
      }
      tokens.push({ t: "str", v });
    } else if (m![9] !== undefined) tokens.push({ t: "word", v: m![9] });
    else tokens.push({ t: m!.slice(1, 8).find((x) => x !== undefined)! });
  }
  let i = 0;
  const peek = () => tokens[i];
  const isWord = (w: string) => peek()?.t === "word" && peek()!.v === w;
  const expect = (t: string): { t: string; v?: string } => {
    const tok = tokens[i++];
    if (!tok || tok.t !== t) fail(`expected ${t === "str" ? "a string literal" : `'${t}'`}`);
    return tok;
  };
  const key = (): string => {
    const tok = tokens[i++];
    if (!tok || (tok.t !== "word" && tok.t !== "str")) fail("expected an attribute key");
    return tok.v!;
  };
  const expr = (): Node => {
    const first = term();
    let joiner: "and" | "or" | undefined;
    const args = [first];
    while (isWord("AND") || isWord("OR")) {
      const op = peek()!.v === "AND" ? "and" : "or";
      if (joiner && joiner !== op) fail("AND and OR must be separated by parentheses");
      joiner = op;
      i++;
      args.push(term());
    }
    return joiner ? { op: joiner, args } : first;
  };
  const term = (): Node => {
    if (isWord("NOT")) {
      i++;
      return { op: "not", arg: term() };
    }
    if (peek()?.t === "(") {
      i++;
      const inner = expr();
      expect(")");
      return inner;
    }
    if (isWord("hasPrefix")) {
      i++;
      expect("(");
      if (!isWord("attributes")) fail("hasPrefix takes attributes.<key>");
      i++;
      expect(".");
      const k = key();
      expect(",");
      const value = expect("str").v!;
      expect(")");
      return { op: "prefix", key: k, value };
    }
    if (!isWord("attributes")) fail("expected attributes, hasPrefix, NOT or (");
    i++;
    if (peek()?.t === ":") {
      i++;
      return { op: "has", key: key() };
    }
    expect(".");
    const k = key();
    if (peek()?.t === "!=") fail("the != operator is not supported by this emulator");
    expect("=");
    return { op: "eq", key: k, value: expect("str").v! };
  };
  if (tokens.length === 0) fail("empty");
  const tree = expr();
  if (i < tokens.length) fail(`unexpected '${tokens[i].v ?? tokens[i].t}'`);
  const run = (n: Node, a: Record<string, string>): boolean => {
    switch (n.op) {
      case "has":
        return Object.prototype.hasOwnProperty.call(a, n.key);
      case "eq":
        return Object.prototype.hasOwnProperty.call(a, n.key) && a[n.key] === n.value;
      case "prefix":
        return Object.prototype.hasOwnProperty.call(a, n.key) && a[n.key].startsWith(n.value);
      case "not":
        return !run(n.arg, a);
      case "and":
        return n.args.every((x) => run(x, a));
      case "or":
        return n.args.some((x) => run(x, a));
    }
  };
  return (attributes) => run(tree, attributes);
}
