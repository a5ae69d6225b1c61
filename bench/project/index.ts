// `zas-bench:streams` AuditStreams (default 1): how `up` cost grows with the stack (bench/bench.ts).
import * as pulumi from "@pulumi/pulumi";
import { AuditStream } from "../../provider";

const streams = new pulumi.Config("zas-bench").getNumber("streams") ?? 1;
for (let i = 0; i < streams; i++) {
  new AuditStream(`s${i}`, { bucket: { forceDestroy: true }, changefeedOptions: { initial_scan: "no" } });
}
