// `npm run bench:relay`: hone-relay (persistence on) against a bare `ws` join-and-forward relay and Socket.IO rooms, same
// workload, servers on CPU 0 (bench/relay-server.ts), this load generator on CPU 1; writes the "hone-relay" section of docs/BENCHMARKS.md.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { io as ioClient } from 'socket.io-client';
import type { Socket as IoSocket } from 'socket.io-client';
import { WebSocket } from 'ws';
import { signToken } from '../src/common/token.ts';
import type { TokenKeys } from '../src/common/token.ts';
import type { MemInfo, RelayServerInfo, ServerKind } from './relay-server.ts';
import { BENCHMARKS_PATH, machineLine, writeBenchSection } from './docs-section.ts';
import { cpus, pinLoadGenerator, serverCommand, stopServer } from './server-process.ts';

const COMMAND = 'npm run bench:relay';
const BENCH_SECRET = 'bench-secret-0123456789abcdef0123456789abcdef';
const ROOMS = 100;
const DEVICES_PER_ROOM = 4;
const PEERS = DEVICES_PER_ROOM - 1;
const PAYLOAD_CHARS = 256;
/** Offered broadcasts per second (whole workload), ascending. */
const ladderArg = process.argv.find((a) => a.startsWith('--ladder='));
const LADDER = ladderArg ? ladderArg.slice(9).split(',').map(Number) : [1000, 2000, 4000, 6000, 8000, 10000, 12000, 15000, 18000, 21000, 24000, 28000, 32000, 36000, 40000, 45000, 50000, 55000, 60000, 65000, 70000, 75000, 80000];
/** Fixed load for the latency comparison (offered broadcasts/s), measured on its own before the ladder: FIXED_RUNS runs
 * of FIXED_MS each, the run with the median p99 reported (single stalls of this VM move one run's p99 a lot). */
const FIXED_RATE = 10000;
const FIXED_MS = 5000;
const FIXED_RUNS = 3;
const WARMUP_MS = 1000;
const MEASURE_MS = 3000;
const DRAIN_MAX_MS = 3000;
const QUIET_MAX_MS = 15000;
/** A step passes when at least this share of the expected deliveries arrived and p99 is under P99_LIMIT_MS. */
const DELIVERY_MIN = 0.99;
const P99_LIMIT_MS = 50;
/** The ladder stops after this many failing steps in a row. */
const STOP_AFTER_FAILS = 2;
const IDLE_ROOMS = 2500;
const IDLE_CONNECTIONS = IDLE_ROOMS * DEVICES_PER_ROOM;
const CONNECT_CONCURRENCY = 200;
/** Load-generator CPU share from which a step may be limited by the load generator rather than the server. */
const LOADGEN_NEAR_LIMIT = 0.85;

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const docsPath = BENCHMARKS_PATH;
const chartPath = join(root, 'docs', 'relay-throughput.svg');

const argv = process.argv.slice(2);
const onlyArg = argv.find((a) => a.startsWith('--only='));
const KINDS: ServerKind[] = onlyArg ? (onlyArg.slice(7).split(',') as ServerKind[]) : ['relay', 'bare', 'socketio'];
const WRITE = !argv.includes('--no-write') && !onlyArg && !ladderArg;
const SKIP_MEM = argv.includes('--no-mem');

const LABEL: Record<ServerKind, string> = { relay: 'hone-relay (SQLite buffer)', bare: 'bare ws baseline', socketio: 'Socket.IO rooms' };

// ---------------------------------------------------------------------------------------------- CPU pinning

const pin = pinLoadGenerator();
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU seconds all processes of the machine have used so far (busy time of every CPU, from /proc/stat). */
function machineCpuSeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: everything but idle and iowait.
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / CLK_TCK;
}

/** Other work on the machine (share of one core) above which a step is taken as disturbed and run again. */
const DISTURBED_CPU = 0.5;
/** Machine busy (share of one core) under which it counts as quiet while the bench itself idles. */
const QUIET_CPU = 0.25;
const QUIET_WAIT_MAX_MS = 90_000;

/** Waits (up to QUIET_WAIT_MAX_MS) until the machine is nearly idle over half a second; answers whether it got there. */
async function waitForQuietMachine(): Promise<boolean> {
  const start = performance.now();
  let said = false;
  while (performance.now() - start < QUIET_WAIT_MAX_MS) {
    const c0 = machineCpuSeconds();
    await sleep(500);
    if ((machineCpuSeconds() - c0) / 0.5 < QUIET_CPU) return true;
    if (!said) process.stdout.write('  (waiting for other work on the machine to finish)\n');
    said = true;
  }
  return false;
}

// ------------------------------------------------------------------------------------------ server process

class ServerHandle {
  child: ChildProcess;
  info: RelayServerInfo;
  private waiters: Array<(m: MemInfo) => void> = [];

  constructor(child: ChildProcess, info: RelayServerInfo, lines: ReturnType<typeof createInterface>) {
    this.child = child;
    this.info = info;
    lines.on('line', (line) => {
      if (line.startsWith('MEM ')) this.waiters.shift()?.(JSON.parse(line.slice(4)) as MemInfo);
    });
  }

  static start(kind: ServerKind): Promise<ServerHandle> {
    const script = join(here, 'relay-server.ts');
    const nodeArgs = ['--expose-gc', ...(process.env.RELAY_BENCH_SERVER_FLAGS?.split(' ').filter(Boolean) ?? []), script, kind, BENCH_SECRET];
    const [cmd, args] = serverCommand(pin, nodeArgs);
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'], cwd: root });
    const lines = createInterface({ input: child.stdout! });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`relay-server ${kind} did not get ready within 60 s`)), 60_000);
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        reject(new Error(`relay-server ${kind} exited with code ${code} before it was ready`));
      };
      child.once('exit', onExit);
      const onLine = (line: string) => {
        if (!line.startsWith('READY ')) return;
        clearTimeout(timer);
        child.off('exit', onExit);
        lines.off('line', onLine);
        resolve(new ServerHandle(child, JSON.parse(line.slice(6)) as RelayServerInfo, lines));
      };
      lines.on('line', onLine);
    });
  }

  mem(): Promise<MemInfo> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.child.stdin!.write('mem\n');
    });
  }

  /** CPU seconds (user + system) the server process has used so far. */
  cpuSeconds(): number {
    const stat = readFileSync(`/proc/${this.info.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  }

  /** Bytes the server process has caused to be written to storage (/proc/<pid>/io write_bytes). */
  writeBytes(): number {
    return Number(/^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${this.info.pid}/io`, 'utf8'))?.[1] ?? 0);
  }

  stop(): Promise<void> {
    return stopServer(this.child);
  }
}

// ------------------------------------------------------------------------------------------------ clients

/** Receptions by payload tag, and latencies (ms) for the tags being measured. */
const received = new Map<number, number>();
const latencies = new Map<number, number[]>();
let receivedTotal = 0;
const TIMELINE = process.env.RELAY_BENCH_TIMELINE ? new Map<number, [number, number]>() : null;
let lastReceiveAt = 0;
const serverErrors: string[] = [];
let serverErrorCount = 0;
let unexpectedCloses = 0;

/** Payload: `s<tag>t<performance.now() at send>|xxx…`, PAYLOAD_CHARS in all. */
const PAD = 'x'.repeat(PAYLOAD_CHARS);
function payloadFor(tag: number): string {
  const head = `s${tag}t${performance.now().toFixed(3)}|`;
  return head + PAD.slice(head.length);
}

/** `text` holds `s<tag>t<time>|` from `start` on. */
function recordPayload(text: string, start: number): void {
  const now = performance.now();
  const t = text.indexOf('t', start);
  const bar = text.indexOf('|', t);
  const tag = Number(text.slice(start + 1, t));
  const sentAt = Number(text.slice(t + 1, bar));
  received.set(tag, (received.get(tag) ?? 0) + 1);
  if (TIMELINE) {
    const b = Math.floor(now / 100);
    const e = TIMELINE.get(b) ?? [0, 0];
    e[0]++;
    e[1] = Math.max(e[1], now - sentAt);
    TIMELINE.set(b, e);
  }
  latencies.get(tag)?.push(now - sentAt);
  receivedTotal++;
  lastReceiveAt = now;
}

interface Client {
  send(tag: number): void;
  close(): void;
}

interface Device {
  room: string;
  device: string;
  token: string;
}

const keys: TokenKeys = { secret: BENCH_SECRET, algorithm: 'hmac-sha256' };
function devices(prefix: string, rooms: number): Device[] {
  const out: Device[] = [];
  const issuedAt = Date.now();
  for (let r = 0; r < rooms; r++) {
    for (let d = 0; d < DEVICES_PER_ROOM; d++) {
      out.push({ room: `${prefix}-${r}`, device: `d${d}`, token: signToken({ userId: r + 1, deviceId: out.length + 1, issuedAt }, keys) });
    }
  }
  return out;
}

const PAYLOAD_KEY = Buffer.from('"payload":"s');
let closingAll = false;

/** A raw `ws` client (hone-relay and the bare baseline speak the same frames); resolves once joined. */
function wsClient(url: string, dev: Device): Promise<Client> {
  return new Promise((resolve, reject) => {
    // A zero mask lets `ws` skip masking the load generator's frames (the servers unmask as usual).
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true, generateMask: (mask) => void mask.fill(0) });
    const head = `{"from":${JSON.stringify(dev.device)},"to":"broadcast","room":${JSON.stringify(dev.room)},"seq":0,"ts":`;
    let joined = false;
    const client: Client = {
      send(tag) {
        ws.send(`${head}${Date.now()},"encrypted":false,"payload":"${payloadFor(tag)}"}`);
      },
      close() {
        ws.terminate();
      },
    };
    ws.on('open', () => ws.send(JSON.stringify({ type: 'join', room: dev.room, device: dev.device, token: dev.token })));
    ws.on('message', (data: Buffer) => {
      const i = data.indexOf(PAYLOAD_KEY);
      if (i >= 0) {
        // Only the small `s<tag>t<time>|` head is decoded.
        recordPayload(data.toString('latin1', i + PAYLOAD_KEY.length - 1, i + PAYLOAD_KEY.length + 40), 0);
        return;
      }
      const text = data.toString();
      if (text.includes('"type":"error"')) {
        serverErrorCount++;
        if (serverErrors.length < 5) serverErrors.push(text.slice(0, 200));
      }
      if (!joined && text.includes('"type":"joined"')) {
        joined = true;
        resolve(client);
      }
    });
    ws.on('error', (err) => {
      if (!joined) reject(err);
    });
    ws.on('close', (code, reason) => {
      if (!joined) reject(new Error(`closed ${code} ${reason.toString()} before joined`));
      else if (!closingAll) {
        unexpectedCloses++;
        if (serverErrors.length < 5) serverErrors.push(`close ${code} ${reason.toString()}`);
      }
    });
  });
}

/** A socket.io-client socket, WebSocket transport only; `join` is acknowledged by the server. */
function ioClientFor(url: string, dev: Device): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket: IoSocket = ioClient(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    let joined = false;
    const client: Client = {
      send(tag) {
        socket.emit('msg', { from: dev.device, to: 'broadcast', room: dev.room, seq: 0, ts: Date.now(), encrypted: false, payload: payloadFor(tag) });
      },
      close() {
        socket.disconnect();
      },
    };
    socket.on('msg', (env: { payload: string }) => recordPayload(env.payload, 0));
    socket.on('connect_error', (err) => {
      if (!joined) reject(err);
    });
    socket.on('disconnect', (reason) => {
      if (joined && !closingAll) {
        unexpectedCloses++;
        if (serverErrors.length < 5) serverErrors.push(`disconnect ${reason}`);
      }
    });
    socket.emit('join', dev.room, () => {
      joined = true;
      resolve(client);
    });
  });
}

async function connectAll(kind: ServerKind, url: string, devs: Device[]): Promise<Client[]> {
  const clients: Client[] = new Array(devs.length);
  let next = 0;
  const worker = async () => {
    while (next < devs.length) {
      const i = next++;
      clients[i] = kind === 'socketio' ? await ioClientFor(url, devs[i]) : await wsClient(url, devs[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, devs.length) }, worker));
  return clients;
}

async function closeAll(clients: Client[]): Promise<void> {
  closingAll = true;
  for (const c of clients) c.close();
  await sleep(1000);
  closingAll = false;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------- one step

interface Step {
  offered: number;
  /** Broadcasts actually sent per second in the measured window. */
  sentPerSec: number;
  /** Receptions per second (any broadcast) during the measured window. */
  deliveredPerSec: number;
  /** Receptions of the measured window's broadcasts within P99_LIMIT_MS of their sending, per second of the window. */
  timelyPerSec: number;
  /** Receptions of the measured window's broadcasts (after a drain) / (PEERS × sent). */
  delivery: number;
  p50: number;
  p99: number;
  serverCpu: number;
  loadCpu: number;
  /** Bytes the server wrote to storage per broadcast sent in the measured window. */
  diskPerBroadcast: number;
  /** CPU used by everything else on the machine (share of one core): interference. */
  otherCpu: number;
  pass: boolean;
  /** 2 when the first run of the step failed and it was run again (the better run is kept). */
  attempts: number;
  /** Runs thrown away because other work on the machine used more than DISTURBED_CPU of a core meanwhile. */
  disturbed: number;
}

let nextTag = 1;

function countBelow(sorted: Float64Array, limit: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < limit) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function waitQuiet(quietMs: number, maxMs: number): Promise<void> {
  const start = performance.now();
  while (performance.now() - start < maxMs && performance.now() - Math.max(lastReceiveAt, start) < quietMs) await sleep(50);
}

/** A step on a quiet machine: waits for quiet first, and runs again (twice at most) when something else ran meanwhile. */
async function runStep(server: ServerHandle, clients: Client[], offered: number, measureMs = MEASURE_MS): Promise<Step> {
  let disturbed = 0;
  for (;;) {
    await waitForQuietMachine();
    const s = await runStepOnce(server, clients, offered, measureMs);
    s.disturbed = disturbed;
    if (s.otherCpu <= DISTURBED_CPU || disturbed >= 2) return s;
    disturbed++;
    totalDisturbed++;
  }
}

let totalDisturbed = 0;

async function runStepOnce(server: ServerHandle, clients: Client[], offered: number, measureMs: number): Promise<Step> {
  const warmTag = nextTag++;
  const tag = nextTag++;
  latencies.set(tag, []);
  const n = clients.length;
  let rr = 0;
  let sent = 0;
  let sentMeasured = 0;
  let measuredFrom = 0;
  let recvAtStart = 0;
  let cpuAtStart = 0;
  let diskAtStart = 0;
  let machineAtStart = 0;
  let loadCpuAtStart = process.cpuUsage();
  const result = await new Promise<{ elapsed: number; recv: number; cpu: number; loadCpu: number; disk: number; machine: number }>((resolve) => {
    const start = performance.now();
    const total = WARMUP_MS + measureMs;
    const timer = setInterval(() => {
      const now = performance.now();
      const el = Math.min(now - start, total);
      const measuring = el >= WARMUP_MS;
      if (measuring && measuredFrom === 0) {
        measuredFrom = now;
        recvAtStart = receivedTotal;
        cpuAtStart = server.cpuSeconds();
        diskAtStart = server.writeBytes();
        machineAtStart = machineCpuSeconds();
        loadCpuAtStart = process.cpuUsage();
      }
      let due = Math.floor((el * offered) / 1000) - sent;
      while (due-- > 0) {
        clients[rr].send(measuring ? tag : warmTag);
        rr = rr + 1 === n ? 0 : rr + 1;
        sent++;
        if (measuring) sentMeasured++;
      }
      if (now - start >= total) {
        clearInterval(timer);
        const lc = process.cpuUsage(loadCpuAtStart);
        resolve({ elapsed: now - measuredFrom, recv: receivedTotal - recvAtStart, cpu: server.cpuSeconds() - cpuAtStart, loadCpu: (lc.user + lc.system) / 1e6, disk: server.writeBytes() - diskAtStart, machine: machineCpuSeconds() - machineAtStart });
      }
    }, 1);
  });
  // Drain: the measured window's broadcasts still in flight.
  const expected = sentMeasured * PEERS;
  const drainStart = performance.now();
  while ((received.get(tag) ?? 0) < expected && performance.now() - drainStart < DRAIN_MAX_MS) await sleep(20);
  if (TIMELINE) {
    console.log([...TIMELINE].map(([b, [n, mx]]) => `${b % 1000}:${n}/${mx.toFixed(0)}`).join(' '));
    TIMELINE.clear();
  }
  const lat = Float64Array.from(latencies.get(tag)!).sort();
  latencies.delete(tag);
  const secs = result.elapsed / 1000;
  const delivery = expected === 0 ? 0 : (received.get(tag) ?? 0) / expected;
  const p99 = percentile(lat, 0.99);
  const step: Step = {
    offered,
    sentPerSec: sentMeasured / secs,
    deliveredPerSec: result.recv / secs,
    timelyPerSec: countBelow(lat, P99_LIMIT_MS) / secs,
    delivery,
    p50: percentile(lat, 0.5),
    p99,
    serverCpu: result.cpu / secs,
    loadCpu: result.loadCpu / secs,
    diskPerBroadcast: sentMeasured === 0 ? 0 : result.disk / sentMeasured,
    otherCpu: Math.max(0, (result.machine - result.cpu - result.loadCpu) / secs),
    pass: delivery >= DELIVERY_MIN && p99 < P99_LIMIT_MS,
    attempts: 1,
    disturbed: 0,
  };
  // Whatever is still queued (an overloaded step) must not spill into the next one.
  await waitQuiet(500, QUIET_MAX_MS);
  return step;
}

// ------------------------------------------------------------------------------------------- one server

interface MemResult {
  before: MemInfo;
  after: MemInfo;
  rssPerConn: number;
  heapPerConn: number;
  connectSeconds: number;
}

interface ServerResult {
  kind: ServerKind;
  steps: Step[];
  mem?: MemResult;
  saturated?: Step;
  fixed?: Step;
  fixedRuns: Step[];
  errors: string[];
  errorCount: number;
  closes: number;
  /** Highest load-generator CPU share over the ladder. */
  maxLoadCpu: number;
}

async function measureMemory(kind: ServerKind): Promise<MemResult> {
  const server = await ServerHandle.start(kind);
  try {
    await sleep(500);
    const before = await server.mem();
    const t0 = performance.now();
    const clients = await connectAll(kind, server.info.url, devices('bench-idle', IDLE_ROOMS));
    const connectSeconds = (performance.now() - t0) / 1000;
    await sleep(2000);
    const after = await server.mem();
    await closeAll(clients);
    return { before, after, rssPerConn: (after.rss - before.rss) / IDLE_CONNECTIONS, heapPerConn: (after.heapUsed - before.heapUsed) / IDLE_CONNECTIONS, connectSeconds };
  } finally {
    await server.stop();
  }
}

/** Server CPU time per delivered message, µs. */
function cpuPerDelivery(s: Step): number {
  return (s.serverCpu / s.deliveredPerSec) * 1e6;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function msFmt(n: number): string {
  return Number.isNaN(n) ? '–' : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : fmt(n);
}

async function benchServer(kind: ServerKind): Promise<ServerResult> {
  console.log(`\n${LABEL[kind]}`);
  serverErrors.length = 0;
  serverErrorCount = 0;
  unexpectedCloses = 0;
  const res: ServerResult = { kind, steps: [], fixedRuns: [], errors: [], errorCount: 0, closes: 0, maxLoadCpu: 0 };
  if (!SKIP_MEM) {
    res.mem = await measureMemory(kind);
    console.log(`  ${fmt(IDLE_CONNECTIONS)} idle joined connections (connected in ${res.mem.connectSeconds.toFixed(1)} s): RSS ${fmt(res.mem.before.rss / 2 ** 20)} → ${fmt(res.mem.after.rss / 2 ** 20)} MiB, ${fmt(res.mem.rssPerConn)} B/connection (heap ${fmt(res.mem.heapPerConn)} B)`);
  }
  const server = await ServerHandle.start(kind);
  try {
    const clients = await connectAll(kind, server.info.url, devices('bench-room', ROOMS));
    await sleep(1000);
    for (let i = 0; i < FIXED_RUNS; i++) res.fixedRuns.push(await runStep(server, clients, FIXED_RATE, FIXED_MS));
    res.fixed = [...res.fixedRuns].sort((a, b) => a.p99 - b.p99)[Math.floor(FIXED_RUNS / 2)];
    const f = res.fixed;
    console.log(`  fixed load ${fmt(FIXED_RATE)} offered broadcasts/s, ${FIXED_RUNS} × ${FIXED_MS / 1000} s, median run: delivered ${fmt(f.deliveredPerSec)}/s, ${(f.delivery * 100).toFixed(1)}%, p50 ${msFmt(f.p50)} ms, p99 ${msFmt(f.p99)} ms (p99 of the runs: ${res.fixedRuns.map((r) => msFmt(r.p99)).join(', ')}), server CPU ${(f.serverCpu * 100).toFixed(0)}%`);
    console.log('  offered b/s   sent b/s  delivered/s  delivery   p50 ms   p99 ms  server CPU  loadgen CPU  disk B/bcast  other CPU');
    let fails = 0;
    const run = async (offered: number) => {
      let s = await runStep(server, clients, offered);
      // One retry: a single stall of the VM or a disk flush longer than 50 ms fails a step that the server otherwise carries.
      if (!s.pass) {
        const again = await runStep(server, clients, offered);
        s = again.pass || again.deliveredPerSec > s.deliveredPerSec ? again : s;
        s.attempts = 2;
      }
      res.steps.push(s);
      console.log(`  ${fmt(s.offered).padStart(11)} ${fmt(s.sentPerSec).padStart(10)} ${fmt(s.deliveredPerSec).padStart(12)} ${(s.delivery * 100).toFixed(1).padStart(8)}% ${msFmt(s.p50).padStart(8)} ${msFmt(s.p99).padStart(8)} ${(s.serverCpu * 100).toFixed(0).padStart(10)}% ${(s.loadCpu * 100).toFixed(0).padStart(11)}% ${fmt(s.diskPerBroadcast).padStart(13)} ${(s.otherCpu * 100).toFixed(0).padStart(9)}%${s.pass ? '' : '  ✗'}${s.attempts > 1 ? '  (2nd run)' : ''}${s.disturbed ? `  (${s.disturbed} disturbed run${s.disturbed > 1 ? 's' : ''} discarded)` : ''}`);
      return s;
    };
    for (const offered of LADDER) {
      const s = await run(offered);
      fails = s.pass ? 0 : fails + 1;
      if (fails >= STOP_AFTER_FAILS) break;
    }
    await closeAll(clients);
  } finally {
    await server.stop();
  }
  res.errors = [...serverErrors];
  res.errorCount = serverErrorCount;
  res.closes = unexpectedCloses;
  res.maxLoadCpu = Math.max(0, ...res.steps.map((s) => s.loadCpu));
  if (res.maxLoadCpu >= LOADGEN_NEAR_LIMIT) console.log(`  note: the load generator reached ${(res.maxLoadCpu * 100).toFixed(0)}% of its core; near the top this measures it as much as the server`);
  if (res.errorCount || res.closes) console.log(`  ⚠ ${res.errorCount} error frames, ${res.closes} unexpected closes: ${res.errors.join(' | ')}`);
  const passing = res.steps.filter((s) => s.pass);
  res.saturated = passing.length ? passing.reduce((a, b) => (b.deliveredPerSec > a.deliveredPerSec ? b : a)) : undefined;
  return res;
}

// ------------------------------------------------------------------------------------------------- chart

const COLOR: Record<ServerKind, string> = { relay: '#1f77b4', bare: '#2ca02c', socketio: '#d62728' };

function chart(results: ServerResult[]): string {
  const W = 820;
  const H = 460;
  const m = { l: 80, r: 250, t: 40, b: 60 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const xMax = Math.max(...results.flatMap((r) => r.steps.map((s) => s.offered)));
  const yMaxRaw = Math.max(...results.flatMap((r) => r.steps.map((s) => s.timelyPerSec)), xMax * PEERS * 0.5);
  const yStep = niceStep(yMaxRaw / 6);
  const yMax = Math.ceil(yMaxRaw / yStep) * yStep;
  const xStep = niceStep(xMax / 8);
  const x = (v: number) => m.l + (v / xMax) * pw;
  const y = (v: number) => m.t + ph - (Math.min(v, yMax) / yMax) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${m.l}" y="22" font-size="14" font-weight="bold">Messages delivered within ${P99_LIMIT_MS} ms per second against offered broadcasts/s (${ROOMS} rooms × ${DEVICES_PER_ROOM} devices)</text>`);
  for (let v = 0; v <= yMax + 1e-9; v += yStep) {
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.l - 8}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}</text>`);
  }
  for (let v = 0; v <= xMax + 1e-9; v += xStep) {
    out.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${m.t}" y2="${m.t + ph}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${x(v)}" y="${m.t + ph + 18}" text-anchor="middle">${fmt(v)}</text>`);
  }
  out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="#333"/>`);
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" stroke="#333"/>`);
  out.push(`<text x="${m.l + pw / 2}" y="${H - 18}" text-anchor="middle">offered broadcasts/s (each to ${PEERS} peers)</text>`);
  out.push(`<text transform="translate(18 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">messages delivered within ${P99_LIMIT_MS} ms per second</text>`);
  // Ideal: every broadcast delivered to its peers at once.
  const xIdeal = Math.min(xMax, yMax / PEERS);
  out.push(`<line x1="${x(0)}" y1="${y(0)}" x2="${x(xIdeal)}" y2="${y(xIdeal * PEERS)}" stroke="#999" stroke-dasharray="4 4"/>`);
  const legend: Array<[string, string, string]> = [['#999', 'ideal (3 × offered)', '4 4']];
  // The lines coincide until a server saturates: drawn widest first, with different dashes and marker sizes.
  const style: Record<ServerKind, { width: number; dash: string; r: number }> = {
    bare: { width: 5, dash: '', r: 6 }, socketio: { width: 3, dash: '8 4', r: 4.5 }, relay: { width: 1.8, dash: '', r: 3 },
  };
  for (const r of [...results].sort((a, b) => style[b.kind].width - style[a.kind].width)) {
    const c = COLOR[r.kind];
    const st = style[r.kind];
    const pts = [...r.steps].sort((a, b) => a.offered - b.offered);
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="${st.width}"${st.dash ? ` stroke-dasharray="${st.dash}"` : ''} stroke-opacity="0.85" points="${pts.map((s) => `${x(s.offered).toFixed(1)},${y(s.timelyPerSec).toFixed(1)}`).join(' ')}"/>`);
    for (const s of pts) {
      out.push(`<circle cx="${x(s.offered).toFixed(1)}" cy="${y(s.timelyPerSec).toFixed(1)}" r="${st.r}" stroke="${c}" stroke-width="2" fill="${s.pass ? c : '#fff'}"><title>${LABEL[r.kind]}: offered ${fmt(s.offered)}/s, delivered ${fmt(s.deliveredPerSec)}/s (${fmt(s.timelyPerSec)}/s within ${P99_LIMIT_MS} ms), ${(s.delivery * 100).toFixed(1)}%, p99 ${msFmt(s.p99)} ms</title></circle>`);
    }
  }
  for (const r of results) legend.push([COLOR[r.kind], LABEL[r.kind], style[r.kind].dash]);
  legend.forEach(([c, text, dash], i) => {
    const ly = m.t + 10 + i * 22;
    out.push(`<line x1="${m.l + pw + 15}" x2="${m.l + pw + 40}" y1="${ly}" y2="${ly}" stroke="${c}" stroke-width="3"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    out.push(`<text x="${m.l + pw + 46}" y="${ly + 4}">${text}</text>`);
  });
  const ly = m.t + 10 + legend.length * 22 + 6;
  out.push(`<circle cx="${m.l + pw + 27}" cy="${ly}" r="4" fill="#555" stroke="#555" stroke-width="2"/><text x="${m.l + pw + 46}" y="${ly + 4}">≥ 99% delivered, p99 &lt; 50 ms</text>`);
  out.push(`<circle cx="${m.l + pw + 27}" cy="${ly + 20}" r="4" fill="#fff" stroke="#555" stroke-width="2"/><text x="${m.l + pw + 46}" y="${ly + 24}">criterion missed</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const k of [1, 2, 2.5, 5, 10]) if (k * p >= raw) return k * p;
  return 10 * p;
}

// -------------------------------------------------------------------------------------------------- main

const started = Date.now();
console.log(`hone-relay benchmark: ${ROOMS} rooms × ${DEVICES_PER_ROOM} devices, ${PAYLOAD_CHARS}-character payloads, ${WARMUP_MS / 1000} s warm-up + ${MEASURE_MS / 1000} s per step${pin ? ', servers on CPU 0, load generator on CPU 1' : ' (not pinned)'}`);
const results: ServerResult[] = [];
for (const kind of KINDS) results.push(await benchServer(kind));

const by = (k: ServerKind) => results.find((r) => r.kind === k);
const relay = by('relay');
const bare = by('bare');
const sio = by('socketio');
const sat = (r?: ServerResult) => r?.saturated?.deliveredPerSec ?? 0;

interface Target {
  what: string;
  value: string;
  met: boolean;
}
const targets: Target[] = [];
if (relay && bare) {
  targets.push({ what: 'saturated throughput ≥ 80% of the bare baseline', value: `${fmt(sat(relay))} vs ${fmt(sat(bare))} delivered/s = ${((sat(relay) / sat(bare)) * 100).toFixed(0)}%`, met: sat(relay) >= 0.8 * sat(bare) });
  if (sio) targets.push({ what: 'saturated throughput ≥ 2× Socket.IO', value: `${fmt(sat(relay))} vs ${fmt(sat(sio))} delivered/s = ${(sat(relay) / sat(sio)).toFixed(2)}×`, met: sat(relay) >= 2 * sat(sio) });
  const rp = relay.fixed?.p99 ?? NaN;
  const bp = bare.fixed?.p99 ?? NaN;
  targets.push({ what: `p99 ≤ 2× the baseline's at ${fmt(FIXED_RATE)} offered broadcasts/s`, value: `${msFmt(rp)} vs ${msFmt(bp)} ms = ${(rp / bp).toFixed(2)}×`, met: rp <= 2 * bp });
  if (relay.mem && bare.mem) {
    targets.push({ what: 'memory per idle joined connection ≤ 2× the baseline\'s', value: `${fmt(relay.mem.rssPerConn)} vs ${fmt(bare.mem.rssPerConn)} B = ${(relay.mem.rssPerConn / bare.mem.rssPerConn).toFixed(2)}×`, met: relay.mem.rssPerConn <= 2 * bare.mem.rssPerConn });
  }
}
console.log('\nServer CPU per delivered message at the fixed load:');
for (const r of results) if (r.fixed) console.log(`  ${LABEL[r.kind].padEnd(28)} ${cpuPerDelivery(r.fixed).toFixed(1)} µs`);
console.log('\nTargets:');
for (const t of targets) console.log(`  ${t.what}: ${t.value} — ${t.met ? 'MET' : 'NOT MET'}`);

if (WRITE) {
  writeFileSync(chartPath, chart(results));
  const summaryRow = (r: ServerResult) => `| ${LABEL[r.kind]} | ${r.saturated ? `${fmt(r.saturated.deliveredPerSec)} (at ${fmt(r.saturated.offered)} offered)` : 'none passed'} | ${r.fixed ? `${msFmt(r.fixed.p50)} / ${msFmt(r.fixed.p99)}` : '–'} | ${r.fixed ? `${(r.fixed.delivery * 100).toFixed(1)}%` : '–'} | ${r.fixed ? cpuPerDelivery(r.fixed).toFixed(1) : '–'} | ${r.mem ? fmt(r.mem.rssPerConn) : '–'} | ${r.mem ? fmt(r.mem.heapPerConn) : '–'} |`;
  const md = [
    '## hone-relay',
    '',
    `Command: \`${COMMAND}\`. Method: [benchmark-method.md](design/benchmark-method.md#hone-relay) (${ROOMS} rooms × ${DEVICES_PER_ROOM} devices, ${PAYLOAD_CHARS}-character broadcasts, open loop; a ladder step passes at ≥ ${DELIVERY_MIN * 100}% delivered with p99 < ${P99_LIMIT_MS} ms; ${pin ? 'server and load generator on one CPU each' : 'no CPU pinning'}). Chart: [relay-throughput.svg](relay-throughput.svg).`,
    machineLine(`${totalDisturbed} disturbed runs discarded`),
    '',
    '| Server | saturated throughput, delivered/s | p50 / p99 ms at ' + fmt(FIXED_RATE) + ' offered/s | delivery at ' + fmt(FIXED_RATE) + '/s | server CPU µs per delivered message at ' + fmt(FIXED_RATE) + '/s | RSS per idle connection, B | heap per idle connection, B |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...results.map(summaryRow),
    '',
    '**Targets** (measured in this run, relative to this run\'s baselines):',
    '',
    ...targets.map((t) => `- ${t.what}: ${t.value} — **${t.met ? 'met' : 'not met'}**`),
    '',
    ...results.flatMap((r) => [
      `<details><summary>${LABEL[r.kind]}: every ladder step</summary>`,
      '',
      `| offered broadcasts/s | sent/s | delivered/s | within ${P99_LIMIT_MS} ms/s | delivery | p50 ms | p99 ms | server CPU | load-generator CPU | server disk writes per broadcast | other processes' CPU | passes | runs |`,
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|',
      ...r.steps.map((s) => `| ${fmt(s.offered)} | ${fmt(s.sentPerSec)} | ${fmt(s.deliveredPerSec)} | ${fmt(s.timelyPerSec)} | ${(s.delivery * 100).toFixed(1)}% | ${msFmt(s.p50)} | ${msFmt(s.p99)} | ${(s.serverCpu * 100).toFixed(0)}% | ${(s.loadCpu * 100).toFixed(0)}% | ${fmt(s.diskPerBroadcast)} B | ${(s.otherCpu * 100).toFixed(0)}% | ${s.pass ? '✓' : '✗'} | ${s.attempts} |`),
      '',
      `Fixed load, ${fmt(FIXED_RATE)} offered broadcasts/s, ${FIXED_RUNS} runs of ${FIXED_MS / 1000} s: p50 ${r.fixedRuns.map((s) => msFmt(s.p50)).join(' / ')} ms, p99 ${r.fixedRuns.map((s) => msFmt(s.p99)).join(' / ')} ms, delivery ${r.fixedRuns.map((s) => `${(s.delivery * 100).toFixed(1)}%`).join(' / ')}, server CPU ${r.fixedRuns.map((s) => `${(s.serverCpu * 100).toFixed(0)}%`).join(' / ')}.`,
      ...(r.mem ? ['', `Memory: RSS ${fmt(r.mem.before.rss / 2 ** 20)} MiB idle → ${fmt(r.mem.after.rss / 2 ** 20)} MiB with ${fmt(IDLE_CONNECTIONS)} joined connections (heap ${fmt(r.mem.before.heapUsed / 2 ** 20)} → ${fmt(r.mem.after.heapUsed / 2 ** 20)} MiB); the ${fmt(IDLE_CONNECTIONS)} connected and joined in ${r.mem.connectSeconds.toFixed(1)} s.`] : []),
      ...(r.steps.some((s) => s.otherCpu > DISTURBED_CPU) || r.fixedRuns.some((s) => s.otherCpu > DISTURBED_CPU) ? ['', `⚠ Some runs above were still disturbed by other work on the machine (other processes' CPU > ${DISTURBED_CPU * 100}% after two re-runs); treat them with care.`] : []),
      ...(r.steps.length > 0 && r.steps[r.steps.length - 1].pass ? ['', `The ladder ran out before this server failed a step: its saturated figure is a lower bound.`] : []),
      ...(r.maxLoadCpu >= LOADGEN_NEAR_LIMIT ? ['', `The load generator reached ${(r.maxLoadCpu * 100).toFixed(0)}% of its core near the top of this ladder, so the highest steps measure it as much as the server: this server's saturated figure is a lower bound.`] : []),
      ...(r.errorCount || r.closes ? ['', `⚠ ${r.errorCount} error frames and ${r.closes} unexpected closes during the run; first: ${r.errors.map((e) => `\`${e}\``).join(', ')}`] : []),
      '',
      '</details>',
      '',
    ]),
  ].join('\n');
  writeBenchSection(md);
  console.log(`\nWrote ${docsPath} and ${chartPath}`);
}
console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);

function readVersion(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}
