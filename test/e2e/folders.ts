// Folder checks for the mirror's end-to-end suites: a folder's synced content as path → hash (folders as "dir/"), and
// polls until two folders converge, a file holds given bytes, or a path is gone.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { until } from '../helpers/wait.ts';


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
  let ta: Record<string, string> = {};
  let tb: Record<string, string> = {};
  const done = () => {
    ta = tree(a);
    tb = tree(b);
    return JSON.stringify(ta) === JSON.stringify(tb) && check(ta);
  };
  if (await until(done, timeoutMs, 50)) return ta;
  assert.deepEqual(tb, ta, `folders did not converge within ${timeoutMs} ms`);
  assert.fail(`folders are equal but not as expected after ${timeoutMs} ms: ${JSON.stringify(ta)}`);
}

/** Waits until the file at `path` holds exactly `content`, or fails after `timeoutMs`. */
export async function fileIs(path: string, content: string | Buffer, timeoutMs = 15_000): Promise<void> {
  const want = Buffer.isBuffer(content) ? content : Buffer.from(content);
  if (await until(() => existsSync(path) && readFileSync(path).equals(want), timeoutMs, 20)) return;
  assert.fail(`${path} does not hold the expected ${want.length} bytes within ${timeoutMs} ms (has ${existsSync(path) ? readFileSync(path).length : 'nothing'})`);
}

/** Waits until nothing is at `path`, or fails after `timeoutMs`. */
export async function gone(path: string, timeoutMs = 10_000): Promise<void> {
  if (!(await until(() => !existsSync(path), timeoutMs, 20))) assert.fail(`${path} still exists after ${timeoutMs} ms`);
}
