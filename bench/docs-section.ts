// Writes one benchmark's section of docs/BENCHMARKS.md: replaces the `## heading` section (up to the next `## `)
// or appends it, keeping the other sections and the section's hand-written "**What it means.**" paragraph.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';

export const BENCHMARKS_PATH = new URL('../docs/BENCHMARKS.md', import.meta.url).pathname;

const PREAMBLE = '# Benchmarks\n\nResults of the scripts in `bench/`; re-run them on your own machine to compare.\n';

/** Where each section's hand-written reading of its figures starts; a new run keeps it (and whatever follows). */
export const MEANING = '**What it means.**';

/** The section's "Machine:" line: this machine, the runtime, `extra` (e.g. a database version) and the date. */
export function machineLine(extra = ''): string {
  const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  return `Machine: ${os.cpus().length} CPUs, ${cpu}, ${os.platform()} ${os.release()}; Node ${process.version}${extra ? `; ${extra}` : ''}; run ${date}.`;
}

/** `md` starts with its `## ` heading line; the old section's text from `keepFrom` (default: MEANING) on is kept. */
export function writeBenchSection(md: string, opts: { keepFrom?: string; path?: string } = {}): string {
  const path = opts.path ?? BENCHMARKS_PATH;
  const keepFrom = opts.keepFrom ?? MEANING;
  const doc = existsSync(path) ? readFileSync(path, 'utf8') : PREAMBLE;
  const heading = md.slice(0, md.indexOf('\n'));
  const start = doc.startsWith(heading + '\n') ? 0 : doc.indexOf('\n' + heading + '\n') + 1;
  let next: string;
  if (start === 0 && !doc.startsWith(heading + '\n')) {
    next = doc.replace(/\n*$/, '\n\n') + md;
  } else {
    const endAt = doc.indexOf('\n## ', start);
    const end = endAt < 0 ? doc.length : endAt + 1;
    const notesAt = doc.indexOf('\n' + keepFrom, start);
    const keep = notesAt >= 0 && notesAt < end ? doc.slice(notesAt + 1, end) : '';
    next = doc.slice(0, start) + md.replace(/\n*$/, '\n\n') + keep + doc.slice(end);
  }
  writeFileSync(path, next.replace(/\n+$/, '\n'));
  return path;
}
