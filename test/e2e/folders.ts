// Folder checks for the mirror's end-to-end suites: a folder's synced content as path → hash (folders as "dir/"), and
// polls until two folders converge, a file holds given bytes, or a path is gone.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Every synced file under `root` (not .git, node_modules, .hone-sync) → sha256 of its content; each folder as `dir/`. */
export function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (rel: string) => {
    for (const name of readdirSync(join(root, rel))) {
      if (name === '.git' || name === 'node_modules' || name === '.hone-sync') continue;
      const r = rel ? `${rel}/${name}` : name;
      try {
        const st = lstatSync(join(root, r));
        if (st.isDirectory()) {
          out[`${r}/`] = 'folder';
          visit(r);
        }
        else if (st.isFile()) out[r] = createHash('sha256').update(readFileSync(join(root, r))).digest('hex').slice(0, 16);
      } catch (err) {
        // A running mirror may remove or replace the file between readdir and the read: the next poll sees it settled.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  };
  visit('');
  return out;
}

/** Waits until both folders hold the same files with the same content (and `check` holds), or fails after `timeoutMs`. */
export async function converged(a: string, b: string, timeoutMs = 15_000, check: (t: Record<string, string>) => boolean = () => true): Promise<Record<string, string>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ta = tree(a);
    const tb = tree(b);
    const same = JSON.stringify(ta) === JSON.stringify(tb);
    if (same && check(ta)) return ta;
    if (Date.now() > deadline) {
      assert.deepEqual(tb, ta, `folders did not converge within ${timeoutMs} ms`);
      assert.fail(`folders are equal but not as expected after ${timeoutMs} ms: ${JSON.stringify(ta)}`);
    }
    await sleep(50);
  }
}

export async function fileIs(path: string, content: string | Buffer, timeoutMs = 10_000): Promise<void> {
  const want = Buffer.isBuffer(content) ? content : Buffer.from(content);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(path) && readFileSync(path).equals(want)) return;
    if (Date.now() > deadline) assert.fail(`${path} does not hold the expected ${want.length} bytes within ${timeoutMs} ms (has ${existsSync(path) ? readFileSync(path).length : 'nothing'})`);
    await sleep(20);
  }
}

export async function gone(path: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (existsSync(path)) {
    if (Date.now() > deadline) assert.fail(`${path} still exists after ${timeoutMs} ms`);
    await sleep(20);
  }
}

