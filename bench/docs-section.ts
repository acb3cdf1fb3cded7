// Writes one benchmark's section of docs/BENCHMARKS.md: replaces the `## heading` section (up to the next `## `)
// or appends it, keeping the other sections and, optionally, hand-written notes from a `###` heading on.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export const BENCHMARKS_PATH = new URL('../docs/BENCHMARKS.md', import.meta.url).pathname;

const PREAMBLE = '# Benchmarks\n\nFigures from the benchmark scripts in `bench/`; re-run them on your own machine to compare.\n';

/** `md` starts with its `## ` heading line; `keepFrom` (a `### ` heading) keeps the old section's notes from there. */
export function writeBenchSection(md: string, opts: { keepFrom?: string; path?: string } = {}): string {
  const path = opts.path ?? BENCHMARKS_PATH;
  const doc = existsSync(path) ? readFileSync(path, 'utf8') : PREAMBLE;
  const heading = md.slice(0, md.indexOf('\n'));
  const start = doc.startsWith(heading + '\n') ? 0 : doc.indexOf('\n' + heading + '\n') + 1;
  let next: string;
  if (start === 0 && !doc.startsWith(heading + '\n')) {
    next = doc.replace(/\n*$/, '\n\n') + md;
  } else {
    const endAt = doc.indexOf('\n## ', start);
    const end = endAt < 0 ? doc.length : endAt + 1;
    const notesAt = opts.keepFrom ? doc.indexOf('\n' + opts.keepFrom, start) : -1;
    const keep = notesAt >= 0 && notesAt < end ? doc.slice(notesAt + 1, end) : '';
    next = doc.slice(0, start) + md.replace(/\n*$/, '\n\n') + keep + doc.slice(end);
  }
  writeFileSync(path, next.replace(/\n+$/, '\n'));
  return path;
}
