import { buildCreateChangefeedStatement, renderChangefeedOptions } from "./statement";

describe("CREATE CHANGEFEED rendering", () => {
  test("the sink is a bind parameter unless asked otherwise", () => {
    expect(buildCreateChangefeedStatement()).toBe(
      "CREATE CHANGEFEED INTO $1 AS SELECT instance_id, aggregate_type, aggregate_id, owner, event_type, sequence, created_at FROM eventstore.events2",
    );
  });

  test("options are sorted, flags are bare, values are string literals", () => {
    expect(
      renderChangefeedOptions({
        resolved: "10s",
        min_checkpoint_frequency: "1s",
        initial_scan: "no",
        mvcc_timestamp: true,
        cursor: "1700000000000000000.0000000000",
        on_error: "pause",
      }),
    ).toBe(
      " WITH cursor = '1700000000000000000.0000000000', initial_scan = 'no', min_checkpoint_frequency = '1s', mvcc_timestamp, on_error = 'pause', resolved = '10s'",
    );
  });

  test("bare resolved, csv with initial_scan only, and no options at all", () => {
    expect(renderChangefeedOptions({ resolved: true })).toBe(" WITH resolved");
    expect(renderChangefeedOptions({ format: "csv", initial_scan: "only" })).toBe(" WITH format = 'csv', initial_scan = 'only'");
    expect(renderChangefeedOptions({})).toBe("");
  });
});
