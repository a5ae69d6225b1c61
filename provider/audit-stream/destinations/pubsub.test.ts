import { pubsubProblems, pubsubWarnings } from "./pubsub";

describe("the pubsub argument", () => {
  test("no subscription of the stream's own: warned at preview that events published before the user's subscription are lost", () => {
    expect(pubsubWarnings({ region: "us-east1", subscriptionName: null }, ["pubsub"])).toEqual([
      expect.stringMatching(/^pubsub\.subscriptionName is null: Pub\/Sub drops what is published to a topic without subscriptions/),
    ]);
    expect(pubsubWarnings({ region: "us-east1", subscriptionName: null }, ["gcs", "pubsub"])).toHaveLength(1);
    // The stream's subscription (default or named) keeps them; without the destination nothing is published.
    expect(pubsubWarnings({ region: "us-east1" }, ["pubsub"])).toEqual([]);
    expect(pubsubWarnings({ region: "us-east1", subscriptionName: "siem" }, ["pubsub"])).toEqual([]);
    expect(pubsubWarnings({ region: "us-east1", subscriptionName: null }, ["gcs"])).toEqual([]);
    expect(pubsubWarnings(undefined, ["gcs"])).toEqual([]);
  });

  test("a warning is not a refusal: the same arguments pass the checks", () => {
    expect(pubsubProblems({ region: "us-east1", subscriptionName: null }, ["pubsub"])).toEqual([]);
  });
});
