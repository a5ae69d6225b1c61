import { gcTtlFrom, intervalSeconds, resumeAdvice } from "./gc";

test.each([
  ["96:00:00", 345_600],
  ["4 days", 345_600],
  ["1 day 02:00:00", 93_600],
  ["00:30:00", 1_800],
  ["96h0m0s", 345_600],
  ["1h30m", 5_400],
  ["soon", undefined],
])("an interval as CockroachDB shows it: %s", (text, seconds) => {
  expect(intervalSeconds(text)).toBe(seconds);
});

test("gc.ttlseconds from SHOW ZONE CONFIGURATION's raw_config_sql", () => {
  expect(gcTtlFrom("ALTER RANGE default CONFIGURE ZONE USING\n\trange_min_bytes = 134217728,\n\tgc.ttlseconds = 90000,\n\tnum_replicas = 3")).toBe(90_000);
  expect(gcTtlFrom("")).toBeUndefined();
});

test("advice without a high-water or a window never promises anything", () => {
  expect(resumeAdvice(null, undefined)).toBe("it never checkpointed: resume it soon");
  expect(resumeAdvice("1795800000000000000.0000000000", undefined)).toMatch(/^resume it before its protected timestamp expires/);
});
