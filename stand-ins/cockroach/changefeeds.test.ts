// The twin's job state machine (cockroach-changefeeds.md §5.4), in-process and without timing: the engine is not
// started, so a requested pause stays requested.
import { Changefeeds, Job, TwinHost } from "./changefeeds";

function jobs(): Changefeeds {
  const host = { setting: () => "", version: "v24.3.1" } as unknown as TwinHost;
  return new Changefeeds(host);
}

function add(c: Changefeeds, status: Job["status"]): string {
  const id = "1795486589029001980";
  c.jobs.set(id, { id, status, user: "root" } as Job);
  return id;
}

test("CANCEL is refused while a pause is requested, allowed once paused; PAUSE and CANCEL are idempotent", () => {
  const c = jobs();
  const id = add(c, "running");
  c.control("PAUSE", id, "root");
  expect(c.jobs.get(id)!.status).toBe("pause-requested");
  c.control("PAUSE", id, "root");
  expect(() => c.control("CANCEL", id, "root")).toThrow(`job ${id}: job with state pause-requested cannot be requested to be canceled`);
  expect(() => c.control("RESUME", id, "root")).toThrow(`job ${id}: job with state pause-requested cannot be resumed`);
  c.jobs.get(id)!.status = "paused";
  c.control("CANCEL", id, "root");
  expect(c.jobs.get(id)!.status).toBe("cancel-requested");
  c.control("CANCEL", id, "root");
  expect(() => c.control("RESUME", id, "root")).toThrow(/cannot be resumed/);
});

test("finished jobs refuse PAUSE and CANCEL; unknown jobs and other users' jobs are refused", () => {
  const c = jobs();
  const id = add(c, "succeeded");
  expect(() => c.control("CANCEL", id, "root")).toThrow(`job ${id}: job with state succeeded cannot be requested to be canceled`);
  expect(() => c.control("PAUSE", id, "root")).toThrow(/cannot be requested to be paused/);
  expect(() => c.control("PAUSE", "42", "root")).toThrow("job with ID 42 does not exist");
  expect(() => c.control("PAUSE", id, "mallory")).toThrow(`user mallory does not have privileges for job ${id}`);
});
