// The names CockroachDB's cloud-storage sink gives its files (cockroach-changefeeds.md §4.1): data files
// `<prefix>/<partition>/<timestamp>-<session>-…<ext>` and `<timestamp>.RESOLVED`, where <timestamp> is
// YYYYMMDDHHMMSS, 9 digits of nanoseconds and 10 of the HLC's logical part, and the partition is the
// timestamp's UTC day (`daily`), day and hour (`hourly`) or nothing (`flat`). Names sort by time, so a
// listing can start at a moment (GCS `startOffset`). Pure.

/** The 33-character file timestamp of an HLC decimal ("1733580000123456789.0000000001"). */
export function fileTimestamp(hlc: string): string {
  const [wall, logical = "0"] = hlc.split(".");
  const ns = BigInt(wall);
  const d = new Date(Number(ns / 1_000_000n));
  const two = (n: number) => String(n).padStart(2, "0");
  const date = `${d.getUTCFullYear()}${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}`;
  return `${date}${String(ns % 1_000_000_000n).padStart(9, "0")}${logical.padEnd(10, "0").slice(0, 10)}`;
}

/** The partition directory (with its trailing "/") of a file whose lower bound is `hlc`. */
export function partitionDir(hlc: string, format: "flat" | "daily" | "hourly" = "daily"): string {
  if (format === "flat") return "";
  const iso = new Date(Number(BigInt(hlc.split(".")[0]) / 1_000_000n)).toISOString();
  return format === "daily" ? `${iso.slice(0, 10)}/` : `${iso.slice(0, 10)}/${iso.slice(11, 13)}/`;
}

/** The first object name a file written from `hlc` on can have, under `prefix`: a listing's startOffset. */
export function firstNameFrom(prefix: string | undefined, hlc: string, format: "flat" | "daily" | "hourly" = "daily"): string {
  const p = (prefix ?? "").replace(/^\/+|\/+$/g, "");
  return `${p ? `${p}/` : ""}${partitionDir(hlc, format)}${fileTimestamp(hlc)}`;
}
