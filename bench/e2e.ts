// `npm run bench:e2e`: time from a file save in one `hone-sync mirror` folder to the file written in the other, through
// real hone-auth + hone-relay processes on this machine; p50/p99 for 1 KB and 1 MB files, in a project without a key and
// in one with a key (end-to-end encrypted), edits of the two alternating. `--write` updates docs/BENCHMARKS.md.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { keySet, startStack } from '../test/helpers/e2e.ts';
import type { Proc } from '../test/helpers/e2e.ts';
import { machineLine, writeBenchSection } from './docs-section.ts';
import { sleep } from '../test/helpers/wait.ts';

const COMMAND = 'npm run bench:e2e';
const HEADING = '## hone-sync mirror end to end';
const arg = (name: string, dflt: number) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : dflt;
};
const SMALL_EDITS = arg('small', 200);
const LARGE_EDITS = arg('large', 200);
/** Pause after each arrival before the next save (a person does not save 100 times a second; also lets buckets refill). */
const SMALL_GAP_MS = arg('small-gap', 25);
const LARGE_GAP_MS = arg('large-gap', 500);
const WARMUP = 10;
const TIMEOUT_MS = 10_000;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];

/** Resolves with the time the file at `path` first holds content with hash `want` (watching its folder). */
function arrival(dir: string, name: string, want: string): { done: Promise<number>; cancel(): void } {
  let watcher: ReturnType<typeof watch> | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const cancel = () => {
    watcher?.close();
    if (timer) clearTimeout(timer);
  };
  const done = new Promise<number>((resolve, reject) => {
    const check = () => {
      try {
        if (sha(readFileSync(join(dir, name))) === want) {
          const t = performance.now();
          cancel();
          resolve(t);
        }
      } catch { /* not there yet */ }
    };
    watcher = watch(dir, (_e, f) => { if (f === name) check(); });
    timer = setTimeout(() => { cancel(); reject(new Error(`${name} did not arrive within ${TIMEOUT_MS} ms`)); }, TIMEOUT_MS);
    check();
  });
  return { done, cancel };
}

interface Pair { mode: string; from: string; to: string }

/** Edits alternate between the pairs (so both see the same machine load); one sorted series of times per pair. */
async function series(size: string, pairs: Pair[], name: string, bytes: number, edits: number, gapMs: number): Promise<number[][]> {
  const out: number[][] = pairs.map(() => []);
  for (let i = 0; i < WARMUP + edits; i++) {
    for (const [k, pair] of pairs.entries()) {
      const content = randomBytes(bytes);
      const a = arrival(pair.to, name, sha(content));
      const t0 = performance.now();
      writeFileSync(join(pair.from, name), content);
      const t1 = await a.done;
      if (i >= WARMUP) out[k].push(t1 - t0);
      await sleep(gapMs);
    }
  }
  return out.map((times, k) => {
    const s = [...times].sort((x, y) => x - y);
    process.stderr.write(`${size} ${pairs[k].mode}: n=${s.length} p50=${pct(s, 0.5).toFixed(1)} ms p99=${pct(s, 0.99).toFixed(1)} ms max=${s[s.length - 1].toFixed(1)} ms\n`);
    return s;
  });
}

async function main(): Promise<void> {
  const load = os.loadavg()[0];
  process.stderr.write('starting hone-auth, hone-relay (SQLite) and an SMTP server…\n');
  const stack = await startStack('sqlite');
  const mirrors: Proc[] = [];
  try {
    const email = 'bench@example.com';
    const desk = await stack.device('desktop');
    const phone = await stack.device('phone');
    for (const d of [desk, phone]) {
      const r = await stack.login(d, email);
      if (r.code !== 0) throw new Error(`login on ${d.name}: ${r.stderr}`);
    }
    if ((await stack.setTier(email, 'pro')).code !== 0) throw new Error('set-tier failed');
    const pairs: Pair[] = [];
    for (const [mode, project, keyed] of [['no key', 'bench', false], ['key', 'bench-e2e', true]] as const) {
      const added = await desk.run(['projects', 'add', project]);
      if (added.code !== 0) throw new Error(`projects add: ${added.stderr}`);
      if (keyed) {
        for (const d of [desk, phone]) {
          const k = await keySet(d, project, { env: 'bench passphrase, not secret' });
          if (k.code !== 0) throw new Error(`key set on ${d.name}: ${k.stderr}`);
        }
      }
      const A = join(stack.dir, `${project}-A`);
      const B = join(stack.dir, `${project}-B`);
      mkdirSync(A);
      mkdirSync(B);
      for (const [dev, dir] of [[desk, A], [phone, B]] as const) {
        const m = dev.start(['mirror', dir, '--project', project]);
        mirrors.push(m);
        const [line] = await m.waitFor(/mirroring .* as "/, 15_000);
        if (line.includes('end-to-end encrypted') !== keyed) throw new Error(`${project} on ${dev.name}: ${line}`);
      }
      pairs.push({ mode, from: A, to: B });
    }
    await sleep(500);
    process.stderr.write(`mirroring; ${SMALL_EDITS} edits of 1 KB, then ${LARGE_EDITS} of 1 MB per project (after ${WARMUP} warm-up edits each)…\n`);
    const small = await series('1 KB', pairs, 'note-1k.txt', 1024, SMALL_EDITS, SMALL_GAP_MS);
    const large = await series('1 MB', pairs, 'blob-1m.bin', 1024 * 1024, LARGE_EDITS, LARGE_GAP_MS);

    const row = (name: string, mode: string, s: number[], gap: number) =>
      `| ${name} | ${mode} | ${s.length} | ${gap} | ${pct(s, 0.5).toFixed(1)} | ${pct(s, 0.99).toFixed(1)} | ${s[s.length - 1].toFixed(1)} |`;
    const p99 = pct(small[0], 0.99);
    const ratio = (k: number[][]) => pct(k[1], 0.99) / pct(k[0], 0.99);
    const [rs, rl] = [ratio(small), ratio(large)];
    const section = [
      HEADING,
      '',
      `Command: \`${COMMAND}\` (\`--write\` replaces this section). Method: [benchmark-method.md](design/benchmark-method.md#hone-sync-mirror-end-to-end).`,
      machineLine(`load average ${load.toFixed(1)} at the start`),
      '',
      '| File size | project | edits | pause ms | p50 ms | p99 ms | max ms |',
      '|---|---|---:|---:|---:|---:|---:|',
      row('1 KB', 'no key', small[0], SMALL_GAP_MS),
      row('1 KB', 'key (encrypted)', small[1], SMALL_GAP_MS),
      row('1 MB', 'no key', large[0], LARGE_GAP_MS),
      row('1 MB', 'key (encrypted)', large[1], LARGE_GAP_MS),
      '',
      `**Target** (p99 < 50 ms for 1 KB without a key): ${p99.toFixed(1)} ms — **${p99 < 50 ? 'met' : 'not met'}**.${LARGE_EDITS < 200 ? ` Only ${SMALL_EDITS} + ${LARGE_EDITS} edits per project in this run.` : ''}`,
      `**Target** (p99 with a key within 1.2× of without): 1 KB ${rs.toFixed(2)}×, 1 MB ${rl.toFixed(2)}× — **${rs <= 1.2 && rl <= 1.2 ? 'met' : 'not met'}**.`,
      '',
    ].join('\n');
    process.stdout.write('\n' + section);
    if (process.argv.includes('--write')) {
      const file = writeBenchSection(section);
      process.stderr.write(`updated ${file}\n`);
    }
  } finally {
    await Promise.all(mirrors.map((m) => m.stop()));
    await stack.close();
  }
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`bench:e2e failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
