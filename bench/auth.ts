// `npm run bench:auth`: hone-auth's authenticated GET /auth/devices and idempotent POST /auth/project under autocannon,
// on SQLite and MySQL, each as a ratio to a bare Fastify route answering the same JSON in the same run; plus verifyToken()
// and the read cache's check (PRAGMA data_version) per second in-process. Writes the "hone-auth" section of docs/BENCHMARKS.md.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import type { AutocannonResult } from 'autocannon';
import { createConnection } from 'mysql2/promise';
import { openSqlite } from '../src/auth/db/sqlite-adapter.ts';
import { checkCache, createReadCache } from '../src/auth/store/read-cache.ts';
import { signToken, verifyToken } from '../src/common/token.ts';
import type { TokenKeys } from '../src/common/token.ts';
import type { ServerInfo } from './auth-server.ts';
import { BENCHMARKS_PATH, machineLine, writeBenchSection } from './docs-section.ts';
import { cpus, pinLoadGenerator, serverCommand, stopServer } from './server-process.ts';

const CONNECTIONS = 50;
const WARMUP_S = 1;
const DURATION_S = 5;
const TARGET_RATIO = 0.5;
const COMMAND = 'npm run bench:auth';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const docsPath = BENCHMARKS_PATH;

// ---------------------------------------------------------------------------------------------- CPU pinning

const pin = pinLoadGenerator();

// ------------------------------------------------------------------------------------------ verifyToken/s

function callsPerSecond(fn: () => unknown, ms = 1000): number {
  for (let i = 0; i < 2000; i++) fn();
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < 1000; i++) if (!fn()) throw new Error('the measured call failed');
    n += 1000;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return (n / elapsed) * 1000;
}

const SECRET = 'bench-secret-0123456789abcdef0123456789abcdef';
const claims = { userId: 1234, deviceId: 56789, issuedAt: Date.now() };
const hmacKeys: TokenKeys = { secret: SECRET, algorithm: 'hmac-sha256' };
const rotatingKeys: TokenKeys = { secret: SECRET, previousSecret: 'previous-secret-0123456789abcdef', algorithm: 'hmac-sha256' };
const djb2Keys: TokenKeys = { secret: SECRET, algorithm: 'djb2' };
const hmacToken = signToken(claims, hmacKeys);
const djb2Token = signToken(claims, djb2Keys);
// The read cache's per-request check on SQLite (src/auth/store/read-cache.ts): `PRAGMA data_version`, prepared once.
function dataVersionPerSecond(): number {
  const dir = mkdtempSync(join(os.tmpdir(), 'hone-bench-dv-'));
  try {
    const { handle } = openSqlite(join(dir, 'auth.db'));
    const c = createReadCache(handle);
    const perSec = callsPerSecond(() => checkCache(c));
    handle.raw.close();
    return perSec;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const dataVersionPerSec = dataVersionPerSecond();

const verifyRows = [
  { name: 'hmac-sha256', perSec: callsPerSecond(() => verifyToken(hmacToken, hmacKeys)) },
  { name: 'hmac-sha256, previousSecret set (rotation)', perSec: callsPerSecond(() => verifyToken(hmacToken, rotatingKeys)) },
  { name: 'djb2 (token.algorithm=djb2: also tries hmac-sha256)', perSec: callsPerSecond(() => verifyToken(djb2Token, djb2Keys)) },
];

// ------------------------------------------------------------------------------------------ server process

function startServers(): Promise<{ child: ChildProcess; info: ServerInfo }> {
  const script = join(here, 'auth-server.ts');
  const [cmd, args] = serverCommand(pin, [script]);
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'], cwd: root });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('bench/auth-server.ts did not get ready within 60 s')), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bench/auth-server.ts exited with code ${code} before it was ready`));
    });
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      out += chunk;
      const m = /^READY (.*)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, info: JSON.parse(m[1]) as ServerInfo });
      }
    });
  });
}


// ---------------------------------------------------------------------------------------------- scenarios

interface Scenario {
  name: string;
  group: 'GET' | 'POST';
  db: 'bare' | 'sqlite' | 'mysql';
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
}

interface Row {
  scenario: Scenario;
  reqPerSec: number;
  p50: number;
  p99: number;
  requests: number;
  bad: number;
  ratio?: number;
}

async function load(s: Scenario, duration: number): Promise<AutocannonResult> {
  return autocannon({ url: s.url, method: s.method, headers: s.headers, body: s.body, connections: CONNECTIONS, duration, timeout: 10 });
}

async function measure(s: Scenario): Promise<Row> {
  process.stdout.write(`  ${s.name.padEnd(44)} `);
  await load(s, WARMUP_S);
  const r = await load(s, DURATION_S);
  const bad = r.non2xx + r.errors + r.timeouts;
  const row: Row = { scenario: s, reqPerSec: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total, bad };
  process.stdout.write(`${fmt(row.reqPerSec)} req/s${bad ? `  (${bad} non-2xx/errors/timeouts!)` : ''}\n`);
  return row;
}

/** autocannon's latencies are whole milliseconds; a 0 means under one. */
function ms(n: number): string {
  return n === 0 ? '<1' : String(n);
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

async function mariadbVersion(): Promise<string> {
  try {
    const c = await createConnection({ host: process.env.HONE_BENCH_MYSQL_HOST ?? '127.0.0.1', port: Number(process.env.HONE_BENCH_MYSQL_PORT ?? 3306), user: 'root', password: '' });
    const [rows] = await c.query('SELECT VERSION() AS v');
    await c.end();
    return String((rows as Array<{ v: string }>)[0].v);
  } catch (err) {
    return `unavailable (${err instanceof Error ? err.message : String(err)})`;
  }
}

const started = Date.now();
console.log(`hone-auth benchmark: ${CONNECTIONS} connections, ${WARMUP_S} s warm-up + ${DURATION_S} s per scenario${pin ? ', servers on CPU 0, autocannon on CPU 1' : ' (not pinned)'}`);
const { child, info } = await startServers();
const rows: Row[] = [];
try {
  const json = { 'content-type': 'application/json' };
  const targets = [{ db: 'sqlite' as const, t: info.sqlite }, ...('error' in info.mysql ? [] : [{ db: 'mysql' as const, t: info.mysql }])];
  if ('error' in info.mysql) console.log(`  MySQL skipped: ${info.mysql.error}`);
  const body = JSON.stringify(info.projectBody);
  for (const group of ['GET', 'POST'] as const) {
    const bare: Scenario = group === 'GET'
      ? { name: 'bare Fastify GET (same JSON)', group, db: 'bare', url: `${info.bare}/bare/devices`, method: 'GET', headers: {} }
      : { name: 'bare Fastify POST (same JSON)', group, db: 'bare', url: `${info.bare}/bare/project`, method: 'POST', headers: json, body };
    const scenarios: Scenario[] = targets.map(({ db, t }) => group === 'GET'
      ? { name: `GET /auth/devices, ${db}`, group, db, url: `${t.url}/auth/devices`, method: 'GET', headers: { authorization: `Bearer ${t.token}` } }
      : { name: `POST /auth/project (re-register), ${db}`, group, db, url: `${t.url}/auth/project`, method: 'POST', headers: { ...json, authorization: `Bearer ${t.token}` }, body });
    // Baseline before and after the real routes; the ratio is to their mean, so drift during the run shows and evens out.
    const before = await measure(bare);
    const measured: Row[] = [];
    for (const s of scenarios) measured.push(await measure(s));
    const after = await measure({ ...bare, name: `${bare.name}, again` });
    const baseline = (before.reqPerSec + after.reqPerSec) / 2;
    for (const r of [before, ...measured, after]) r.ratio = r.reqPerSec / baseline;
    rows.push(before, ...measured, after);
  }
} finally {
  await stopServer(child);
}

// ------------------------------------------------------------------------------------------------- report

const sqliteGet = rows.find((r) => r.scenario.group === 'GET' && r.scenario.db === 'sqlite')!;
const targetMet = sqliteGet.ratio! >= TARGET_RATIO && sqliteGet.bad === 0;
const anyBad = rows.some((r) => r.bad > 0);

const header = ['Scenario', 'req/s', 'p50 ms', 'p99 ms', 'vs bare', 'non-2xx/err'];
const table = rows.map((r) => [
  r.scenario.name, fmt(r.reqPerSec), ms(r.p50), ms(r.p99), `${(r.ratio! * 100).toFixed(0)}%`, String(r.bad),
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
console.log('\n' + header.map((h, i) => (i === 0 ? h.padEnd(widths[i]) : h.padStart(widths[i]))).join('  '));
for (const row of table) console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
console.log('\nverifyToken() calls per second (one core, in-process):');
for (const v of verifyRows) console.log(`  ${v.name.padEnd(52)} ${fmt(v.perSec)}/s`);
console.log(`read cache check (PRAGMA data_version): ${fmt(dataVersionPerSec)}/s, ${(1e6 / dataVersionPerSec).toFixed(2)} µs each`);
console.log(`\nTarget: authenticated GET on SQLite >= ${TARGET_RATIO * 100}% of the bare route: ${(sqliteGet.ratio! * 100).toFixed(0)}%, ${targetMet ? 'MET' : 'NOT MET'}`);

const md = [
  '## hone-auth',
  '',
  `Command: \`${COMMAND}\`. Method: [benchmark-method.md](design/benchmark-method.md#hone-auth) (autocannon, ${CONNECTIONS} connections, ${DURATION_S} s per scenario, ${pin ? 'server and autocannon on one CPU each' : 'no CPU pinning'}; "vs bare": a bare Fastify route answering the same JSON in the same run).`,
  machineLine(`MariaDB ${await mariadbVersion()} on the same host`),
  '',
  '| Scenario | req/s | p50 ms | p99 ms | vs bare | non-2xx/errors |',
  '|---|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.scenario.name} | ${fmt(r.reqPerSec)} | ${ms(r.p50)} | ${ms(r.p99)} | ${(r.ratio! * 100).toFixed(0)}% | ${r.bad} |`),
  '',
  `**Target** (authenticated GET at ≥ ${TARGET_RATIO * 100}% of the bare route on SQLite): ${(sqliteGet.ratio! * 100).toFixed(0)}% — **${targetMet ? 'met' : 'not met'}**.`,
  ...(anyBad ? ['', '⚠ Some requests failed (see the last column); those figures are not valid.'] : []),
  '',
  '`verifyToken()` calls per second, in-process on one core (about 1 s each):',
  '',
  '| Algorithm | calls/s |',
  '|---|---:|',
  ...verifyRows.map((v) => `| ${v.name} | ${fmt(v.perSec)} |`),
  '',
  `The SQLite read cache's check before every authenticated request (\`PRAGMA data_version\` prepared on node:sqlite, WAL file, in-process, one core): ${fmt(dataVersionPerSec)} calls/s, ${(1e6 / dataVersionPerSec).toFixed(2)} µs each.`,
  '',
].join('\n');

writeBenchSection(md);
console.log(`\nWrote ${docsPath} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
if (anyBad) process.exitCode = 1;
