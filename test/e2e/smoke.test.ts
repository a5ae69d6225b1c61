// Foundation smoke test: a trivial dynamic resource through the real Pulumi CLI.
// Asserts on the engine's change summaries, not only on exit codes.
import * as fs from "fs";
import * as path from "path";
import { newTestStack, TestStack } from "../harness/engine";
import { FileNote } from "./fixtures/file-note";

jest.setTimeout(240_000);

describe("real Pulumi engine: dynamic resource lifecycle", () => {
  let t: TestStack;
  let content = "first";
  let notesDir: string;

  beforeAll(async () => {
    t = await newTestStack({
      project: "smoke",
      program: async () => {
        const note = new FileNote("note", { directory: notesDir, namePrefix: "note", content });
        return { fileName: note.fileName, sha256: note.sha256 };
      },
    });
    notesDir = path.join(t.workDir, "notes");
    const cli = (t.stack.workspace as any).pulumiCommand;
    console.log(`Pulumi CLI ${cli.version?.version ?? "?"} at ${cli.command}`);
  });

  afterAll(async () => {
    await t?.dispose();
  });

  test("up creates the resource and writes the file", async () => {
    const up = await t.stack.up({ onOutput: (s) => t.log.push(s) });
    expect(up.summary.result).toBe("succeeded");
    expect(up.summary.resourceChanges).toEqual({ create: 2 }); // the stack and the note
    const file = path.join(notesDir, up.outputs.fileName.value);
    expect(up.outputs.fileName.value).toMatch(/^note-[0-9a-f]{8}\.txt$/);
    expect(fs.readFileSync(file, "utf8")).toBe("first");
  });

  test("preview afterwards reports no changes and the generated name stays stable", async () => {
    const before = (await t.stack.outputs()).fileName.value;
    const pv = await t.stack.preview();
    expect(pv.changeSummary).toEqual({ same: 2 });
    const up = await t.stack.up();
    expect(up.summary.resourceChanges).toEqual({ same: 2 });
    expect(up.outputs.fileName.value).toBe(before);
  });

  test("an input change is an in-place update that keeps every output", async () => {
    content = "second";
    const pv = await t.stack.preview();
    expect(pv.changeSummary).toEqual({ same: 1, update: 1 });
    const up = await t.stack.up();
    expect(up.summary.resourceChanges).toEqual({ same: 1, update: 1 });
    expect(fs.readFileSync(path.join(notesDir, up.outputs.fileName.value), "utf8")).toBe("second");
    expect(up.outputs.sha256.value).toMatch(/^[0-9a-f]{64}$/);
  });

  test("refresh sees an out-of-band edit, and the next up repairs it", async () => {
    const file = path.join(notesDir, (await t.stack.outputs()).fileName.value);
    fs.writeFileSync(file, "tampered");
    const rf = await t.stack.refresh();
    expect(rf.summary.result).toBe("succeeded");
    expect(rf.summary.resourceChanges).toEqual({ same: 1, update: 1 });
    const up = await t.stack.up();
    expect(up.summary.resourceChanges).toEqual({ same: 1, update: 1 });
    expect(fs.readFileSync(file, "utf8")).toBe("second");
  });

  test("destroy removes the file", async () => {
    const file = path.join(notesDir, (await t.stack.outputs()).fileName.value);
    const d = await t.stack.destroy();
    expect(d.summary.resourceChanges).toEqual({ delete: 2 });
    expect(fs.existsSync(file)).toBe(false);
  });
});
