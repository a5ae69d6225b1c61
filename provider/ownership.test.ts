import {
  adoptDecision,
  identityFields,
  jobMarker,
  jobRelation,
  jobTakeOverValue,
  legacyJobMarker,
  legacyLabel,
  markerIn,
  mayDelete,
  ownerHash,
  ownerLabels,
  relationOf,
  stripMarker,
  tagOf,
  withMarker,
  Identity,
} from "./ownership";

const owner = "proj/prod/zitadel-audit-writer";
const me: Identity = { owner, deployment: "0123456789abcdef", instance: "aaaaaaaa" };
const tag = (deployment: string, o: string, instance: string) => `${deployment}-${ownerHash(o)}-${instance}`;
const mine = tag("0123456789abcdef", owner, "aaaaaaaa");
const sameLineage = tag("0123456789abcdef", owner, "bbbbbbbb");
const otherDeployment = tag("fedcba9876543210", owner, "aaaaaaaa");
const otherResource = tag("0123456789abcdef", "proj/prod/other", "aaaaaaaa");

test("a tag is deployment, owner hash and instance; a legacy resource has none and keeps 0.x's label", () => {
  expect(tagOf(me)).toBe(mine);
  expect(mine).toMatch(/^0123456789abcdef-[0-9a-f]{10}-aaaaaaaa$/);
  expect(tagOf({ owner })).toBeUndefined();
  expect(ownerLabels(me)).toEqual({ "zitadel-audit-stream": mine });
  expect(ownerLabels({ owner })).toEqual({ "zitadel-audit-stream": legacyLabel(owner) });
});

test.each([
  ["this instance's tag", mine, "mine"],
  ["another instance of this lineage (crash, replacement, parent move)", sameLineage, "lineage"],
  ["the same name in another deployment", otherDeployment, "foreign"],
  ["another resource of this deployment", otherResource, "foreign"],
  ["0.x's label of this owner", legacyLabel(owner), "legacy"],
  ["0.x's label of another owner", legacyLabel("proj/prod/other"), "foreign"],
  ["no mark at all", undefined, "legacy"],
] as const)("relation of an object with %s", (_what, found, relation) => {
  expect(relationOf(found, me)).toBe(relation);
});

test("a legacy resource (no deployment) finds any tagged object foreign", () => {
  expect(relationOf(mine, { owner })).toBe("foreign");
  expect(relationOf(undefined, { owner })).toBe("legacy");
});

test.each([
  ["mine", mine, undefined, { adopt: true, takenOverFrom: "" }],
  ["lineage", sameLineage, undefined, { adopt: true, takenOverFrom: "" }],
  ["another deployment's, no takeOver", otherDeployment, undefined, { adopt: false }],
  ["another deployment's, takeOver names another", otherDeployment, "1111111111111111", { adopt: false }],
  ["another deployment's, takeOver names it", otherDeployment, "fedcba9876543210", { adopt: true, takenOverFrom: "fedcba9876543210" }],
  ["legacy, no takeOver", undefined, undefined, { adopt: false }],
  ["legacy, takeOver legacy", legacyLabel(owner), "legacy", { adopt: true, takenOverFrom: "legacy" }],
  ["another resource of this deployment", otherResource, undefined, { adopt: false }],
  [
    "another resource of this deployment, takeOver of our own deployment",
    otherResource,
    "0123456789abcdef",
    { adopt: true, takenOverFrom: "0123456789abcdef" },
  ],
] as const)("create finding an object that is %s", (_what, found, takeOver, expected) => {
  const d = adoptDecision(found, me, takeOver);
  expect(d).toMatchObject(expected);
  if (!d.adopt) {
    expect(d.why).toMatch(/It is left as it is/);
    if (found === otherResource) expect(d.why).toMatch(/^it belongs to another resource of this stack/);
    else expect(d.why).toContain(`set takeOver: "${found && /^[0-9a-f]{16}-/.test(found) ? found.slice(0, 16) : "legacy"}"`);
  }
});

test.each([
  ["still this instance's", mine, true],
  ["unmarked (0.x, or never re-tagged)", undefined, true],
  ["re-tagged by a newer instance of the lineage", sameLineage, false],
  ["taken over by another deployment", otherDeployment, false],
] as const)("delete of an object that is %s", (_what, found, deletes) => {
  expect(mayDelete(found, me).delete).toBe(deletes);
});

test("description markers: appended once, stripped for the user's view, read back", () => {
  const d = withMarker("CockroachDB changefeed into Cloud Storage", me)!;
  expect(d).toBe(`CockroachDB changefeed into Cloud Storage [zitadel-audit-stream ${mine}]`);
  expect(withMarker(d, me)).toBe(d);
  expect(stripMarker(d)).toBe("CockroachDB changefeed into Cloud Storage");
  expect(markerIn(d)).toBe(mine);
  expect(withMarker(undefined, me)).toBe(`[zitadel-audit-stream ${mine}]`);
  expect(withMarker("x", { owner })).toBe("x");
  expect(markerIn("hand-written")).toBeUndefined();
});

test("identity fields: made once, kept from the stored inputs, never added to a legacy resource", () => {
  const fresh = identityFields({}, { owner, deployment: "0123456789abcdef" });
  expect(fresh).toEqual({ deployment: "0123456789abcdef", instance: expect.stringMatching(/^[0-9a-f]{8}$/) });
  expect(identityFields({ owner, ...fresh }, { owner, deployment: "9999999999999999" })).toEqual(fresh);
  expect(identityFields({ owner, marker: "x" }, { owner, deployment: "0123456789abcdef" })).toEqual({ deployment: undefined, instance: undefined });
  // The engine's olds of a new resource carry at most the provider text.
  expect(identityFields({ __provider: "p" }, { owner })).toEqual({ deployment: undefined, instance: expect.stringMatching(/^[0-9a-f]{8}$/) });
});

test("job markers: the lineage; 0.x's for a legacy resource; how a live job relates", () => {
  const m = jobMarker(me);
  expect(m).toBe(`zitadel-audit-stream.0123456789abcdef.${ownerHash(owner)}`);
  expect(jobMarker({ owner })).toBe(legacyJobMarker(owner));
  expect(jobRelation(m, me, m)).toBe("lineage");
  expect(jobRelation(jobMarker({ ...me, instance: "bbbbbbbb" }), me, m)).toBe("lineage");
  const other = jobMarker({ owner, deployment: "fedcba9876543210" });
  expect(jobRelation(other, me, m)).toBe("foreign");
  expect(jobTakeOverValue(other)).toBe("fedcba9876543210");
  expect(jobRelation(legacyJobMarker(owner), me, m)).toBe("foreign");
  expect(jobTakeOverValue(legacyJobMarker(owner))).toBe("legacy");
  expect(jobRelation(jobMarker({ owner: "proj/prod/other", deployment: "0123456789abcdef" }), me, m)).toBe("other");
  expect(jobRelation(undefined, me, m)).toBe("other");
  // A legacy resource's own marker is its lineage.
  expect(jobRelation(legacyJobMarker(owner), { owner }, legacyJobMarker(owner))).toBe("lineage");
});
