// `npm run bench:cluster`: the relay benchmark's workload (100 rooms × 4 devices, 256-character broadcasts) on the
// single SQLite relay and on Redis clusters of 1, 2, 4 nodes × 1, 2, 4 Redis shards of the bench's own; writes docs/BENCHMARKS.md.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { freePort } from '../test/helpers/process.ts';
import { signToken } from '../src/common/token.ts';
import { shardIndex } from '../src/relay/engine/redis/wire.ts';
import { machineLine, writeBenchSection } from './docs-section.ts';
import type { DeviceSpec, LoadInit, LoadMessage, StepOrder, StepReport } from './cluster-load.ts';

const SECRET = 'bench-secret-0123456789abcdef0123456789abcdef';
const ROOMS = 100;
const PER_ROOM = 4;
const PEERS = PER_ROOM - 1;
const PAYLOAD_CHARS = 256;
/**
 * Offered broadcasts per second, ascending; a setup stops after its first failing step. It reaches past 3× the
 * 16,000 that one Redis allowed on 16 cores, so "4 nodes on 4 shards ≥ 3× 4 nodes on 1 shard" can be seen there.
 */
const LADDER = [1000, 2000, 4000, 8000, 12000, 16000, 20000, 25000, 30000, 40000, 50000, 60000, 70000, 80000];
/** The rate at which p99 is compared across setups (every setup passes it on a 2-core machine). */
const COMPARE_AT = 2000;
const WARMUP_MS = 1000;
const MEASURE_MS = 3000;
/**
 * The comparison at COMPARE_AT runs apart from the ladders, in rounds that each start every setup afresh in turn
 * (single, then the cluster setups; then again): a neighbour's burst on a shared machine then falls on one round of
 * every setup rather than on one setup's only sample. Each round is measured 10 s (60,000 deliveries; 3 s hang on one
 * or two stalls) after 40 s of warm-up; the median of the rounds is compared. The warm-up is that long because V8
 * goes on optimizing and deoptimizing a fresh relay's code for ~35 s at this rate (`--trace-opt --trace-deopt`:
 * bursts of 20–25 events per 2 s per node until ~31 s, the nodes of a cluster at the same moments; 1 in the 10 s
 * measured after 40 s), on helper threads that then hold a CPU for 3–4 ms (perf sched); a relay in service has long
 * finished. Ten setups × 50 s make a round ~9 minutes on 2 cores, hence 2 rounds by default (3 before the grid).
 */
const COMPARE_WARMUP_MS = 40_000;
const COMPARE_MS = 10_000;
const DRAIN_MS = 3000;
const DELIVERY_MIN = 0.99;
const P99_LIMIT_MS = 50;
const DEFAULT_ROUNDS = 2;
/**
 * --quick: only the setups the issue's two targets compare (single relay, 4 nodes on 1 and on 4 shards), full ladder,
 * 1 comparison round: ~6 minutes instead of ~25, for a borrowed many-core machine's limited time. Its section says so.
 */
const QUICK = process.argv.includes('--quick');
const QUICK_SETUPS = ['single', '4x1', '4x4'];

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const APP = join(root, 'src', 'relay', 'app.ts');
const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
/**
 * Partial runs (never written to the docs; --quick is written): --setups=single,1x1,4x4 (NxS: N nodes on S Redis shards)
 * --rates=1000,2000 (ladder steps; --rates= for none) --rounds=N (comparison rounds; 0 for none) --no-write
 * Diagnostics: --timeline --node-args='--trace-gc' --child-log=DIR; --generators=N (load-generator threads;
 * default: one per 4 CPUs, 1 to 4), --cpus-gen=0 --cpus-nodes=1 --cpus-redis=1 (CPU lists for taskset).
 */
const ONLY = arg('setups')?.split(',').map((x) => x.trim()).filter(Boolean);
const RATES = arg('rates')?.split(',').filter(Boolean).map(Number);
const ROUNDS = Number(arg('rounds') ?? (QUICK ? 1 : DEFAULT_ROUNDS));
const TIMELINE = process.argv.includes('--timeline');
const NODE_ARGS = arg('node-args')?.split(' ').filter(Boolean) ?? [];
const CHILD_LOG = arg('child-log');
const CPU_COUNT = os.availableParallelism();
const GENERATORS = Math.max(1, Math.min(ROOMS, Number(arg('generators') ?? Math.min(4, Math.max(1, Math.floor(CPU_COUNT / 4))))));
const CPUS = { gen: arg('cpus-gen'), nodes: arg('cpus-nodes'), redis: arg('cpus-redis') };
const pin = (pid: number, cpus: string | undefined) => {
  if (cpus !== undefined && pid > 0) spawnSync('taskset', ['-apc', cpus, String(pid)], { stdio: 'ignore' });
};
const WRITE = !process.argv.includes('--no-write') && ONLY === undefined && RATES === undefined && arg('rounds') === undefined
  && arg('generators') === undefined;

/** `shards` 0: the single relay on SQLite; otherwise `nodes` relay nodes on `shards` Redis servers. */
interface Setup { key: string; name: string; nodes: number; shards: number }
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
function setup(key: string): Setup {
  if (key === 'single') return { key, name: 'single relay (SQLite, no Redis)', nodes: 1, shards: 0 };
  const m = /^(\d+)x(\d+)$/.exec(key);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new Error(`--setups: "${key}" is neither "single" nor NxS (N nodes on S shards, e.g. 4x4)`);
  const [nodes, shards] = [Number(m[1]), Number(m[2])];
  return { key, name: `cluster, ${plural(nodes, 'node')} on ${plural(shards, 'shard')}`, nodes, shards };
}
const GRID = [1, 2, 4];
const DEFAULT_SETUPS = ['single', ...GRID.flatMap((n) => GRID.map((s) => `${n}x${s}`))];

// ------------------------------------------------------------------------------------------------ nodes

interface Proc { child: ChildProcess; pid: number }
interface Node extends Proc { ws: string }

function startNode(file: string, cwd: string): Promise<Node> {
  const child = spawn(process.execPath, [...NODE_ARGS, APP, '--config', file], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  if (CHILD_LOG) {
    const log = createWriteStream(join(CHILD_LOG, `node-${child.pid}.log`));
    child.stdout!.on('data', (d: Buffer) => log.write(`${performance.timeOrigin + performance.now()} ${d}`));
  }
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start:\n${out}`)), 15_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('"event":"listening"'));
      if (!line) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.stdout!.resume();
      pin(child.pid!, CPUS.nodes);
      resolve({ child, ws: JSON.parse(line).ws, pid: child.pid! });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`relay exited ${code}:\n${out}`)));
  });
}

function stop(p: Proc, graceMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
    p.child.once('exit', () => resolve());
    p.child.kill('SIGTERM');
    setTimeout(() => p.child.kill('SIGKILL'), graceMs).unref();
  });
}

// ------------------------------------------------------------------------------------------- Redis shards

/**
 * The redis-server to start: HONE_BENCH_REDIS_SERVER, else `redis-server` on PATH, else the one that
 * ../shared/many-core/pack.sh put in .devrun/ (with its libraries); resolved at the first cluster setup.
 */
let redisCommand: { cmd: string; env: NodeJS.ProcessEnv; version: string } | undefined;
function redisServer(): { cmd: string; env: NodeJS.ProcessEnv; version: string } {
  if (redisCommand) return redisCommand;
  const devrun = join(root, '.devrun');
  const candidates = [
    ...(process.env.HONE_BENCH_REDIS_SERVER ? [{ cmd: process.env.HONE_BENCH_REDIS_SERVER, env: process.env }] : []),
    { cmd: 'redis-server', env: process.env },
    { cmd: join(devrun, 'redis-server'), env: { ...process.env, LD_LIBRARY_PATH: join(devrun, 'lib') } },
  ];
  for (const c of candidates) {
    if (c.cmd.includes('/') && !existsSync(c.cmd)) continue;
    const r = spawnSync(c.cmd, ['--version'], { encoding: 'utf8', env: c.env });
    if (r.status === 0) return (redisCommand = { ...c, version: r.stdout.split(' ').slice(0, 3).join(' ') });
  }
  throw new Error('no redis-server: put it on PATH, set HONE_BENCH_REDIS_SERVER, or run ../shared/many-core/pack.sh');
}

interface Shard extends Proc { url: string }

/** One redis-server of the setup's own: a free port on 127.0.0.1, no persistence, its working folder in `dir`. */
async function startShard(dir: string): Promise<Shard> {
  const { cmd, env } = redisServer();
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn(cmd, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000);
      const onData = (d: Buffer) => {
        out += d.toString();
        if (!out.includes('Ready to accept connections')) return;
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(true);
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      child.once('exit', () => { clearTimeout(timer); resolve(false); });
    });
    if (ok) {
      pin(child.pid!, CPUS.redis);
      return { child, pid: child.pid!, url: `redis://127.0.0.1:${port}` };
    }
    child.kill('SIGKILL');
    // the free port was taken between freePort() and the bind: another port
    if (attempt === 3) throw new Error(`redis-server did not start:\n${out}`);
  }
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;
/** CPU seconds (user + system, every thread) used by process `pid` so far. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

// ------------------------------------------------------------------------------------------ load generator

/** One load-generator thread (bench/cluster-load.ts) holding whole rooms. */
interface Generator { worker: Worker; next(): Promise<StepReport> }

function startGenerator(devices: DeviceSpec[]): Promise<Generator> {
  const init: LoadInit = { devices, payloadChars: PAYLOAD_CHARS, timeline: TIMELINE };
  const worker = new Worker(new URL('./cluster-load.ts', import.meta.url), { workerData: init });
  let waiting: ((m: LoadMessage) => void) | null = null;
  let failure: Error | null = null;
  const take = () => new Promise<LoadMessage>((resolve, reject) => {
    if (failure) return reject(failure);
    waiting = resolve;
  });
  worker.on('message', (m: LoadMessage) => {
    const w = waiting;
    waiting = null;
    if (m.type === 'failed') failure = new Error(m.error);
    w?.(m);
  });
  worker.on('error', (err: Error) => {
    failure = err;
    const w = waiting;
    waiting = null;
    w?.({ type: 'failed', error: String(err.stack ?? err) });
  });
  return take().then((m) => {
    if (m.type !== 'ready') {
      void worker.terminate();
      throw new Error(`load generator did not start: ${m.type === 'failed' ? m.error : m.type}`);
    }
    return {
      worker,
      async next() {
        const r = await take();
        if (r.type !== 'step') throw new Error(`load generator: ${r.type === 'failed' ? r.error : r.type}`);
        return r;
      },
    };
  });
}

let errors = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (a: Float64Array, p: number) => (a.length === 0 ? NaN : a[Math.min(a.length - 1, Math.floor(p * a.length))]);

interface Step {
  offered: number; sent: number; delivered: number; delivery: number; p50: number; p95: number; p99: number;
  /** Shares of one core: all relay nodes together, all Redis shards together, the busiest shard, the load generator. */
  relayCpu: number; redisCpu: number; redisMax: number; genCpu: number; pass: boolean;
}

/** Per 100 ms of send time: deliveries, max latency and those over the step's p99; shows whether stalls are periodic. */
function printTimeline(pairs: Float64Array[], t0: number, p99: number): void {
  const buckets = new Map<number, { n: number; max: number; slow: number }>();
  for (const tl of pairs) {
    for (let i = 0; i < tl.length; i += 2) {
      const b = Math.floor((tl[i] - t0) / 100);
      const e = buckets.get(b) ?? { n: 0, max: 0, slow: 0 };
      e.n++;
      e.max = Math.max(e.max, tl[i + 1]);
      if (tl[i + 1] >= p99) e.slow++;
      buckets.set(b, e);
    }
  }
  const rows = [...buckets].sort((a, b) => a[0] - b[0]).map(([b, e]) => `${String(b * 100).padStart(5)}ms n=${e.n} max=${e.max.toFixed(1)} ≥p99=${e.slow}`);
  console.log(`    timeline (t0=${t0.toFixed(0)}, p99 ${p99.toFixed(2)} ms):\n      ` + rows.join('\n      '));
}

let nextTag = 1;
/** One step: every generator sends its share of `offered`; CPU is sampled here over the measured window. */
async function step(gens: Generator[], offered: number, nodePids: number[], redisPids: number[], warmupMs: number, measureMs: number): Promise<Step> {
  const warm = nextTag++;
  const tag = nextTag++;
  const order: StepOrder = { type: 'step', warm, tag, rate: offered / gens.length, warmupMs, measureMs, drainMs: DRAIN_MS, peers: PEERS };
  const reports = Promise.all(gens.map((g) => {
    const r = g.next();
    g.worker.postMessage(order);
    return r;
  }));
  const sample = () => ({
    t: performance.now(), nodes: nodePids.reduce((s, p) => s + cpuSeconds(p), 0), redis: redisPids.map(cpuSeconds), gen: cpuSeconds(process.pid),
  });
  await sleep(warmupMs);
  const a = sample();
  const t0 = performance.timeOrigin + a.t;
  await sleep(measureMs);
  const b = sample();
  const secs = (b.t - a.t) / 1000;
  const rs = await reports;
  const measured = rs.reduce((s, r) => s + r.measured, 0);
  const expected = measured * PEERS;
  const deliveredTag = rs.reduce((s, r) => s + r.delivered, 0);
  const lat = new Float64Array(rs.reduce((s, r) => s + r.latencies.length, 0));
  let off = 0;
  for (const r of rs) {
    lat.set(r.latencies, off);
    off += r.latencies.length;
  }
  lat.sort();
  errors += rs.reduce((s, r) => s + r.errors, 0);
  const p99 = pct(lat, 0.99);
  if (TIMELINE) printTimeline(rs.map((r) => r.timeline), t0, p99);
  const delivery = deliveredTag / expected;
  const shardCpu = redisPids.map((_, i) => (b.redis[i] - a.redis[i]) / secs);
  return {
    offered, sent: rs.reduce((s, r) => s + r.measured / r.secs, 0), delivered: rs.reduce((s, r) => s + r.recv / r.secs, 0), delivery,
    p50: pct(lat, 0.5), p95: pct(lat, 0.95), p99,
    relayCpu: (b.nodes - a.nodes) / secs, redisCpu: shardCpu.reduce((s, x) => s + x, 0), redisMax: Math.max(0, ...shardCpu),
    genCpu: (b.gen - a.gen) / secs, pass: delivery >= DELIVERY_MIN && p99 < P99_LIMIT_MS,
  };
}

const pctCpu = (x: number) => `${(x * 100).toFixed(0)}%`;

/** Starts the setup (its own Redis shards, its nodes, its devices), runs `rates` in order (a ladder stops at its first failing step), stops it. */
async function runSetup(s: Setup, rates: number[], ladder: boolean): Promise<Step[]> {
  const dir = mkdtempSync(join(os.tmpdir(), 'hone-bench-cluster-'));
  const shards: Shard[] = [];
  const nodes: Node[] = [];
  const gens: Generator[] = [];
  const steps: Step[] = [];
  try {
    shards.push(...(await Promise.all(Array.from({ length: s.shards }, () => startShard(dir)))));
    const file = join(dir, 'relay.conf');
    const conf: Record<string, string | number> = {
      host: '127.0.0.1', port: 0, 'ws.port': 0, 'auth.secret': SECRET, 'sqlite.path': join(dir, 'relay.db'), 'log.level': 'info',
      'limits.connections.perIpPerMinute': 1_000_000, 'limits.connections': 1_000_000, 'limits.messages.perSecond': 1_000_000,
      'limits.ip.connections': 10_000_000, 'limits.user.connections': 1_000_000,
      'limits.messages.burst': 1_000_000, 'limits.bytes.perSecond': 1_073_741_824, 'limits.rooms': 1_000_000,
      'limits.sendBuffer.bytes': 1_073_741_824,
      ...(s.shards > 0 ? { 'cluster.redis': shards.map((x) => x.url).join(','), 'cluster.prefix': `hone-bench-${randomBytes(4).toString('hex')}` } : {}),
    };
    writeFileSync(file, Object.entries(conf).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
    const startedNodes = await Promise.allSettled(Array.from({ length: s.nodes }, () => startNode(file, dir)));
    for (const x of startedNodes) if (x.status === 'fulfilled') nodes.push(x.value);
    const nodeFailed = startedNodes.find((x) => x.status === 'rejected');
    if (nodeFailed) throw nodeFailed.reason;
    const issuedAt = Date.now();
    // room r on generator r mod G (a room's sends and deliveries on one clock); device d of room r on node (r + d) mod N
    const perGen: DeviceSpec[][] = Array.from({ length: GENERATORS }, () => []);
    for (let r = 0; r < ROOMS; r++) {
      for (let d = 0; d < PER_ROOM; d++) {
        const token = signToken({ userId: r + 1, deviceId: d + 1, issuedAt }, { secret: SECRET, algorithm: 'hmac-sha256' });
        perGen[r % GENERATORS].push({ url: nodes[(r + d) % s.nodes].ws, room: `bench-${r}`, device: `d${d}`, token });
      }
    }
    const started = await Promise.allSettled(perGen.map(startGenerator));
    for (const g of started) if (g.status === 'fulfilled') gens.push(g.value);
    const failed = started.find((g) => g.status === 'rejected');
    if (failed) throw failed.reason;
    const nodePids = nodes.map((n) => n.pid);
    const redisPids = shards.map((x) => x.pid);
    for (const offered of rates) {
      const run = () => step(gens, offered, nodePids, redisPids, ladder ? WARMUP_MS : COMPARE_WARMUP_MS, ladder ? MEASURE_MS : COMPARE_MS);
      let st = await run();
      // One retry of a failing ladder step (a GC pause or a neighbour's burst on a shared 2-core machine); the better run is kept.
      if (!st.pass && ladder) {
        const again = await run();
        if (again.pass || again.p99 < st.p99) st = again;
      }
      steps.push(st);
      console.log(`  ${s.name}${ladder ? '' : ' (comparison round)'}: offered ${offered}/s → delivered ${Math.round(st.delivered)}/s (${(st.delivery * 100).toFixed(1)}%), p50 ${st.p50.toFixed(2)} ms, p95 ${st.p95.toFixed(2)} ms, p99 ${st.p99.toFixed(2)} ms, relay CPU ${pctCpu(st.relayCpu)}, ${s.shards > 0 ? `redis CPU ${pctCpu(st.redisCpu)} (busiest shard ${pctCpu(st.redisMax)}), ` : ''}load generator CPU ${pctCpu(st.genCpu)} ${st.pass ? '' : 'FAIL'}`);
      if (!st.pass && ladder) break;
    }
  } finally {
    await Promise.all(gens.map((g) => {
      g.worker.postMessage({ type: 'close' });
      return g.worker.terminate();
    }));
    await Promise.all(nodes.map((n) => stop(n)));
    await Promise.all(shards.map((x) => stop(x, 2000)));
    rmSync(dir, { recursive: true, force: true });
  }
  return steps;
}

// ---------------------------------------------------------------------------------------------- report

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => (Number.isNaN(n) ? '–' : n.toFixed(n < 10 ? 2 : 1));

async function main(): Promise<void> {
  const chosen = (ONLY ?? (QUICK ? QUICK_SETUPS : DEFAULT_SETUPS)).map(setup);
  const ladderRates = RATES ?? LADDER;
  console.log(`bench:cluster — ${ROOMS} rooms × ${PER_ROOM} devices, ${PAYLOAD_CHARS}-character broadcasts, ladder ${ladderRates.length > 0 ? ladderRates.join(', ') + ' broadcasts/s' : 'none'}, ${plural(ROUNDS, 'comparison round')} at ${COMPARE_AT}/s; setups ${chosen.map((s) => s.key).join(', ')}; ${GENERATORS} load-generator thread(s)`);
  pin(process.pid, CPUS.gen);
  const started = Date.now();
  const results: Array<{ setup: Setup; ladder: Step[]; rounds: Step[] }> = [];
  for (const s of chosen) results.push({ setup: s, ladder: ladderRates.length === 0 ? [] : await runSetup(s, ladderRates, true), rounds: [] });
  for (let r = 0; r < ROUNDS; r++) for (const res of results) res.rounds.push(...(await runSetup(res.setup, [COMPARE_AT], false)));
  const minutes = (Date.now() - started) / 60_000;

  const best = (steps: Step[]) => steps.filter((x) => x.pass).at(-1);
  const median = (xs: number[]) => {
    const a = [...xs].sort((x, y) => x - y);
    return a.length === 0 ? NaN : a.length % 2 === 1 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
  };
  const med = (steps: Step[], f: (x: Step) => number) => median(steps.map(f));
  const find = (key: string) => results.find((r) => r.setup.key === key);
  const times = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b) ? '–' : `${(a / b).toFixed(2)}×`);
  const topRate = ladderRates.at(-1);
  const lines: string[] = [];
  lines.push('## Relay cluster', '');
  const redis = results.some((r) => r.setup.shards > 0) ? redisServer().version : undefined;
  lines.push(`Command: \`npm run bench:cluster\`. Method: [benchmark-method.md](design/benchmark-method.md#relay-cluster) (the relay benchmark's workload; device *d* of room *r* on node (r + d) mod N, so rooms span nodes; each room on the Redis shard the relay places it on; every cluster setup starts its own Redis shards, one \`redis-server\` each on its own port, no persistence; latency compared at ${fmt(COMPARE_AT)} broadcasts/s, median of ${plural(ROUNDS, 'round')} after ${COMPARE_WARMUP_MS / 1000} s of warm-up; load from ${plural(GENERATORS, 'generator thread')}; nothing pinned; the run took ${minutes.toFixed(0)} minutes${QUICK ? `; \`--quick\`: only ${chosen.map((s) => s.name).join(', ')}` : ''}).`);
  lines.push(machineLine(redis ? `${redis}, one process per shard, on the same host` : ''));
  lines.push('');
  lines.push(CPU_COUNT < 16
    ? `On this ${CPU_COUNT}-CPU machine the figures only show that the sharded cluster works: every relay node, Redis shard and the load generator share ${CPU_COUNT} cores, so more nodes or shards cannot add capacity here. The targets are for a machine with a core for each process (16 cores; \`../shared/many-core/README.md\` says how to run the bench there).`
    : `On this ${CPU_COUNT}-CPU machine each relay node, Redis shard and load-generator thread can have a core of its own; the targets below apply.`);
  lines.push('');
  // the issue's two targets, as ratios of setups measured in this run
  const s44 = find('4x4');
  const s41 = find('4x1');
  const single = find('single');
  const b44 = s44 && best(s44.ladder);
  const b41 = s41 && best(s41.ladder);
  const stepRatio = b44 && b41 ? `**${times(b44.offered, b41.offered)}** (${fmt(b44.offered)} ÷ ${fmt(b41.offered)} broadcasts/s${b44.offered === topRate ? '; 4 nodes on 4 shards passed the top of the ladder, so this is a lower bound' : ''})` : 'not measured in this run';
  const p44 = s44 && med(s44.rounds, (x) => x.p99);
  const p1 = single && med(single.rounds, (x) => x.p99);
  const p99Ratio = p44 !== undefined && p1 !== undefined && !Number.isNaN(p44) && !Number.isNaN(p1) ? `**${times(p44, p1)}** (${ms(p44)} ms ÷ ${ms(p1)} ms)` : 'not measured in this run';
  lines.push(`- highest step 4 nodes/4 shards ÷ 4 nodes/1 shard (target ≥ 3× on a 16-core machine): ${stepRatio}`);
  lines.push(`- p99 at ${fmt(COMPARE_AT)}/s of 4 nodes/4 shards ÷ single relay (target ≤ 1.2×): ${p99Ratio}`);
  lines.push('');
  const n = `median of ${plural(ROUNDS, 'round')}`;
  lines.push(`| Setup | highest passing step (broadcasts/s) | delivered msg/s there | p99 there | Redis CPU there: all shards / busiest shard | p50 / p95 / p99 at ${fmt(COMPARE_AT)}/s (${n}) | p99 vs single relay | p99 of each round | relay CPU / Redis CPU (all / busiest shard) at ${fmt(COMPARE_AT)}/s |`);
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const { setup: s, ladder, rounds } of results) {
    const b = best(ladder);
    const [p50, p95, p99] = [med(rounds, (x) => x.p50), med(rounds, (x) => x.p95), med(rounds, (x) => x.p99)];
    const redisThere = b && s.shards > 0 ? `${pctCpu(b.redisCpu)} / ${pctCpu(b.redisMax)}` : '–';
    const cpu = rounds.length === 0 ? '–' : `${pctCpu(med(rounds, (x) => x.relayCpu))} / ${s.shards > 0 ? `${pctCpu(med(rounds, (x) => x.redisCpu))} / ${pctCpu(med(rounds, (x) => x.redisMax))}` : '–'}`;
    const top = b && b.offered === topRate ? ' (top of the ladder)' : '';
    lines.push(`| ${s.name} | ${ladder.length === 0 ? '–' : b ? fmt(b.offered) + top : 'none'} | ${b ? fmt(b.delivered) : '–'} | ${b ? ms(b.p99) + ' ms' : '–'} | ${redisThere} | ${rounds.length > 0 ? `${ms(p50)} / ${ms(p95)} / ${ms(p99)} ms` : '–'} | ${times(p99, p1)} | ${rounds.length > 0 ? rounds.map((x) => ms(x.p99)).join(', ') + ' ms' : '–'} | ${cpu} |`);
  }
  const shardSets = [...new Set(results.map((r) => r.setup.shards).filter((k) => k > 1))].sort((a, b) => a - b);
  if (shardSets.length > 0) {
    const spread = shardSets.map((k) => {
      const counts = Array.from({ length: k }, () => 0);
      for (let r = 0; r < ROOMS; r++) counts[shardIndex(`bench-${r}`, k)]++;
      return `${k} shards ${counts.join(' / ')}`;
    });
    lines.push('', `Rooms per shard (the relay's placement of the ${ROOMS} rooms): ${spread.join('; ')}.`);
  }
  const grid = results.filter((r) => r.setup.shards > 0 && r.ladder.length > 0);
  const nodeCounts = [...new Set(grid.map((r) => r.setup.nodes))].sort((a, b) => a - b);
  const shardCounts = [...new Set(grid.map((r) => r.setup.shards))].sort((a, b) => a - b);
  if (nodeCounts.length > 1 && shardCounts.length > 1) {
    lines.push('', 'Highest passing step (broadcasts/s), nodes × shards:', '');
    lines.push(`| nodes \\ shards | ${shardCounts.join(' | ')} |`, `|---|${shardCounts.map(() => '---:').join('|')}|`);
    for (const nn of nodeCounts) {
      lines.push(`| ${nn} | ${shardCounts.map((k) => {
        const r = grid.find((x) => x.setup.nodes === nn && x.setup.shards === k);
        const b = r && best(r.ladder);
        return r === undefined ? '' : b ? fmt(b.offered) : 'none';
      }).join(' | ')} |`);
    }
  }
  if (results.some((r) => r.ladder.length > 0)) lines.push('', '<details><summary>Every ladder step</summary>', '', '| Setup | offered/s | delivered msg/s | delivered | p50 ms | p99 ms | relay CPU (all nodes) | Redis CPU (all shards) | busiest shard | load generator CPU |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const { setup: s, ladder } of results) {
    for (const st of ladder) lines.push(`| ${s.name} | ${fmt(st.offered)} | ${fmt(st.delivered)} | ${(st.delivery * 100).toFixed(1)}% | ${ms(st.p50)} | ${ms(st.p99)} | ${pctCpu(st.relayCpu)} | ${s.shards > 0 ? pctCpu(st.redisCpu) : '–'} | ${s.shards > 0 ? pctCpu(st.redisMax) : '–'} | ${pctCpu(st.genCpu)} |`);
  }
  if (results.some((r) => r.ladder.length > 0)) lines.push('', '</details>');
  const text = lines.join('\n') + '\n';
  console.log('\n' + text);
  if (errors > 0) console.log(`error frames received: ${errors}`);
  if (!WRITE) return;
  // The figures are replaced; the hand-written reading of them is kept.
  const path = writeBenchSection(text);
  console.log(`wrote ${path}`);
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
