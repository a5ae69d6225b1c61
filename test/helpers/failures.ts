// Check failures with their full property path, whichever way the provider rendered them for the
// CLI (a top-level property, or "" with the path leading the reason; provider/engine/define.ts forEngine).
export interface Failure {
  property: string;
  reason: string;
}

export function named(failures: Failure[] | undefined): Failure[] {
  return (failures ?? []).map((f) => {
    if (f.property) return f;
    const at = f.reason.indexOf(": ");
    return at < 0 ? f : { property: f.reason.slice(0, at), reason: f.reason.slice(at + 2) };
  });
}
