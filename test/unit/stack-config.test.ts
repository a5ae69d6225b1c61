// The root program's config is checked before anything is declared: unknown keys and malformed
// JSON lists are refused at preview, naming the key.
import { CONFIG_KEYS, stackConfigProblems } from "../../stack/program";

test("a typo of a known key is refused with the known keys and how to remove it", () => {
  expect(stackConfigProblems({ "zitadel-audit-stream:payloadEventType": '["user.human.added"]' })).toEqual([
    expect.stringMatching(
      /^zitadel-audit-stream:payloadEventType: not a setting of this program \(known: .*payloadEventTypes.*\); remove it with `pulumi config rm zitadel-audit-stream:payloadEventType`$/,
    ),
  ]);
});

test("JSON lists must be lists of strings", () => {
  expect(stackConfigProblems({ "zitadel-audit-stream:payloadEventTypes": "user.human.added" })[0]).toMatch(
    /^zitadel-audit-stream:payloadEventTypes: must be a JSON list of strings/,
  );
  expect(stackConfigProblems({ "zitadel-audit-stream:instanceIds": "[1, 2]" })[0]).toMatch(/^zitadel-audit-stream:instanceIds: must be a JSON list of strings/);
});

test("every known key, and other namespaces, pass", () => {
  const all = Object.fromEntries(
    CONFIG_KEYS.map((k) => [`zitadel-audit-stream:${k}`, ["payloadEventTypes", "instanceIds", "eventTypes"].includes(k) ? '["a"]' : "x"]),
  );
  expect(stackConfigProblems({ ...all, "gcp:project": "p", "aws:region": "x" })).toEqual([]);
});
