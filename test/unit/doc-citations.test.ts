// Comments cite the notes they rely on as `<file>.md §N`: each such note is in docs/, and has a
// section N. A bare `§N` refers to the nearest note named before it in the same file.
import * as fs from "fs";
import * as path from "path";
import { repoRoot as root, tsFiles } from "../helpers/imports";

const docs = path.join(root, "docs");

/** The section numbers a note has: "## 2. Title" and "### 2.2 Title" give "2" and "2.2". */
function sectionsOf(note: string): Set<string> {
  const text = fs.readFileSync(path.join(docs, note), "utf8");
  return new Set([...text.matchAll(/^#+\s+(\d+(?:\.\d+)*)\.?\s/gm)].map((m) => m[1]));
}

interface Citation {
  where: string;
  note?: string;
  section: string;
}

function citationsIn(file: string): Citation[] {
  const text = fs.readFileSync(file, "utf8");
  const found: Citation[] = [];
  for (const m of text.matchAll(/§\s?(\d+(?:\.\d+)*)/g)) {
    const before = text.slice(0, m.index);
    const notes = [...before.matchAll(/([\w-]+)\.md\b/g)];
    const line = before.split("\n").length;
    found.push({ where: `${path.relative(root, file)}:${line}`, note: notes.length ? `${notes[notes.length - 1][1]}.md` : undefined, section: m[1] });
  }
  return found;
}

const cited = ["provider", "stack", "tools"].flatMap((d) => tsFiles(path.join(root, d))).flatMap(citationsIn);

test("the product cites its notes by file and section", () => {
  expect(cited.length).toBeGreaterThan(50);
});

test("every cited note is in docs/ and has the section cited", () => {
  const sections = new Map<string, Set<string>>();
  const broken = cited.filter((c) => {
    if (!c.note || !fs.existsSync(path.join(docs, c.note))) return true;
    if (!sections.has(c.note)) sections.set(c.note, sectionsOf(c.note));
    return !sections.get(c.note)!.has(c.section);
  });
  expect(broken.map((c) => `${c.where}: ${c.note ?? "(no note named)"} §${c.section}`)).toEqual([]);
});
