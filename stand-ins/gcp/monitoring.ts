// Cloud Monitoring API v3, the one call a subscription's health needs: projects.timeSeries.list for
// Pub/Sub's subscription/num_undelivered_messages and subscription/oldest_unacked_message_age (GAUGE,
// INT64; cloud.google.com/monitoring/api/metrics_gcp, pubsub). The emulator answers one point, now,
// computed from the subscription's backlog on the Pub/Sub clock; the real service samples every 60 s
// and shows a point some minutes late (own simplification). Filter: `metric.type = "…"` AND
// `resource.labels.subscription_id = "…"`, in either order; anything else is refused (own words).
import { invalid } from "./errors";
import type { EmulatorHost, Register, Reply, Request } from "./model";
import type { PubsubApi } from "./pubsub";

const METRICS = ["pubsub.googleapis.com/subscription/num_undelivered_messages", "pubsub.googleapis.com/subscription/oldest_unacked_message_age"];

export class MonitoringApi {
  constructor(
    private readonly emu: EmulatorHost,
    private readonly pubsub: PubsubApi,
  ) {}

  register(add: Register): void {
    add("GET", /^\/v3\/projects\/([^/]+)\/timeSeries$/, (r) => this.list(r));
  }

  private list(r: Request): Reply {
    const [project] = r.params;
    this.emu.require("monitoring", r.principal, "monitoring.timeSeries.list", { project }, `projects/${project}`);
    const filter = r.query.get("filter") ?? "";
    if (!r.query.get("interval.endTime")) throw invalid("Field interval.endTime had an invalid value: the interval's end time is required."); // own words
    const terms = Object.fromEntries(
      filter.split(/\s+AND\s+/).map((t) => {
        const m = /^\s*(metric\.type|resource\.labels\.subscription_id)\s*=\s*"([^"]*)"\s*$/.exec(t);
        if (!m) throw invalid(`The filter is not supported by this emulator: ${filter}`); // own words
        return [m[1], m[2]];
      }),
    );
    const metric = terms["metric.type"];
    if (!METRICS.includes(metric)) throw invalid(`The filter is not supported by this emulator (metric.type ${metric}): ${filter}`); // own words
    const id = terms["resource.labels.subscription_id"];
    const now = this.pubsub.now();
    const series = [...this.pubsub.subscriptions.values()]
      .filter((s) => s.project === project && (id === undefined || s.id === id))
      .map((s) => {
        const value = metric.endsWith("num_undelivered_messages")
          ? s.backlog.length
          : Math.max(0, Math.floor((now - s.backlog.reduce((oldest, l) => Math.min(oldest, l.message.publishTime), now)) / 1000));
        const at = new Date(now).toISOString();
        return {
          metric: { type: metric },
          resource: { type: "pubsub_subscription", labels: { project_id: project, subscription_id: s.id } },
          metricKind: "GAUGE",
          valueType: "INT64",
          points: [{ interval: { startTime: at, endTime: at }, value: { int64Value: String(value) } }],
        };
      });
    return { json: series.length ? { timeSeries: series, unit: metric.endsWith("age") ? "s" : "1" } : {} };
  }
}
