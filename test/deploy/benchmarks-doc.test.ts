// docs/BENCHMARKS.md reads as results: one section per benchmark with its command, machine, figures and a paragraph
// of what they mean; its links into docs/design/ resolve; and a benchmark run rewrites only its own section's
// figures, keeping the hand-written "What it means" paragraph (bench/docs-section.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MEANING, writeBenchSection } from '../../bench/docs-section.ts';

const DOC_PATH = fileURLToPath(new URL('../../docs/BENCHMARKS.md', import.meta.url));
const DOC = readFileSync(DOC_PATH, 'utf8');
const sections = () => DOC.split(/\n(?=## )/).slice(1).map((s) => ({ heading: s.slice(3, s.indexOf('\n')), text: s }));

test('every section has its command, machine, a table and what it means; no lab-notebook wording', () => {
  assert.ok(sections().length >= 5, 'the benchmarks have their sections');
  for (const { heading, text } of sections()) {
    assert.match(text, /^Command: `npm run [a-z0-9:]+`/m, `${heading}: Command line`);
    assert.match(text, /^Machine: /m, `${heading}: Machine line`);
    assert.match(text, /^\|.*\|\n\|[-:| ]+\|$/m, `${heading}: a table`);
    assert.ok(text.includes(`\n${MEANING} `), `${heading}: a "${MEANING}" paragraph`);
  }
  assert.doesNotMatch(DOC, /\b(today|this morning|yesterday|tried today|the morning's)\b/i);
});

/** GitHub's heading anchors: lower case, spaces to hyphens, punctuation dropped. */
const anchor = (heading: string) => heading.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-');

test('links into docs/design/ resolve, to their headings too', () => {
  const docs = dirname(DOC_PATH);
  for (const m of DOC.matchAll(/\]\((design\/[^)#]*)(?:#([^)]+))?\)/g)) {
    const file = join(docs, m[1]);
    if (m[1].endsWith('/')) {
      assert.ok(existsSync(file), m[1]);
      continue;
    }
    assert.ok(existsSync(file), `${m[1]} exists`);
    if (m[2]) {
      const headings = [...readFileSync(file, 'utf8').matchAll(/^#+ (.+)$/gm)].map((h) => anchor(h[1]));
      assert.ok(headings.includes(m[2]), `${m[1]}#${m[2]}: no such heading`);
    }
  }
});

test('a benchmark run replaces its section\'s figures and keeps the other sections and its "What it means"', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-bench-doc-'));
  try {
    const path = join(dir, 'BENCHMARKS.md');
    writeFileSync(path, `# Benchmarks\n\n## a\n\nCommand: old\n\n${MEANING} kept a.\n\n## b\n\nCommand: b\n\n${MEANING} b.\n`);
    writeBenchSection('## a\n\nCommand: new\n\n| x |\n|---|\n| 1 |\n', { path });
    assert.equal(readFileSync(path, 'utf8'),
      `# Benchmarks\n\n## a\n\nCommand: new\n\n| x |\n|---|\n| 1 |\n\n${MEANING} kept a.\n\n## b\n\nCommand: b\n\n${MEANING} b.\n`);
    writeBenchSection('## c\n\nCommand: c\n', { path });
    assert.ok(readFileSync(path, 'utf8').endsWith('## b\n\nCommand: b\n\n' + `${MEANING} b.\n\n## c\n\nCommand: c\n`), 'a new section is appended');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
