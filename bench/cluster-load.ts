// bench/cluster.ts's load generator, one per worker thread: holds whole rooms' devices (so a send and its deliveries
// are timed on one clock), sends its share of the offered rate round-robin and reports each step's latencies.
import { parentPort, workerData } from 'node:worker_threads';
import { WebSocket } from 'ws';

export interface DeviceSpec { url: string; room: string; device: string; token: string }
export interface LoadInit { devices: DeviceSpec[]; payloadChars: number; timeline: boolean }
/** Main → worker: run one step at `rate` broadcasts/s (this worker's share); sends tagged `tag` once `warmupMs` passed. */
export interface StepOrder { type: 'step'; warm: number; tag: number; rate: number; warmupMs: number; measureMs: number; drainMs: number; peers: number }
export interface StepReport {
  type: 'step';
  /** Broadcasts sent while measuring, and the seconds measured. */
  measured: number;
  secs: number;
  /** Deliveries of any tag received while measuring (throughput), and of the measured tag by the end of the drain. */
  recv: number;
  delivered: number;
  /** Latency of each delivery of the measured tag (ms), unsorted. */
  latencies: Float64Array;
  /** With `timeline`: (sent at, epoch ms; latency) pairs. */
  timeline: Float64Array;
  errors: number;
}
export type LoadMessage = { type: 'ready' } | { type: 'failed'; error: string } | StepReport;

const KEY = Buffer.from('"payload":"s');

interface Client { send(tag: number): void; close(): void }

async function run(port: NonNullable<typeof parentPort>, init: LoadInit): Promise<void> {
  const PAD = 'x'.repeat(init.payloadChars);
  const received = new Map<number, number>();
  const latencies = new Map<number, number[]>();
  let receivedTotal = 0;
  let timeline: number[] = [];
  let errors = 0;

  function client(d: DeviceSpec): Promise<Client> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(d.url, { perMessageDeflate: false, skipUTF8Validation: true });
      const head = `{"from":"${d.device}","to":"broadcast","room":"${d.room}","seq":0,"ts":`;
      let joined = false;
      ws.on('open', () => ws.send(JSON.stringify({ type: 'join', room: d.room, device: d.device, token: d.token })));
      ws.on('message', (data: Buffer) => {
        const i = data.indexOf(KEY);
        if (i >= 0) {
          const s = data.toString('latin1', i + KEY.length - 1, i + KEY.length + 40);
          const t = s.indexOf('t');
          const tag = Number(s.slice(1, t));
          const sentAt = Number(s.slice(t + 1, s.indexOf('|')));
          received.set(tag, (received.get(tag) ?? 0) + 1);
          const now = performance.now();
          const lat = latencies.get(tag);
          if (lat !== undefined) {
            lat.push(now - sentAt);
            if (init.timeline) timeline.push(performance.timeOrigin + sentAt, now - sentAt);
          }
          receivedTotal++;
          return;
        }
        const text = data.toString();
        if (!joined && text.includes('"type":"joined"')) {
          joined = true;
          resolve({
            send(tag) {
              const p = `s${tag}t${performance.now().toFixed(3)}|`;
              ws.send(`${head}${Date.now()},"encrypted":false,"payload":"${p}${PAD.slice(p.length)}"}`);
            },
            close: () => ws.terminate(),
          });
        } else if (text.includes('"type":"error"')) {
          errors++;
          if (!joined) reject(new Error(text));
        }
      });
      ws.on('error', (err) => { if (!joined) reject(err); });
    });
  }

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const clients: Client[] = [];
  for (const d of init.devices) clients.push(await client(d));
  let rr = 0;

  async function step(o: StepOrder): Promise<StepReport> {
    latencies.set(o.tag, []);
    let sent = 0;
    let measured = 0;
    let t0 = 0;
    let recv0 = 0;
    const end = await new Promise<{ t: number; recv: number }>((resolve) => {
      const start = performance.now();
      const timer = setInterval(() => {
        const now = performance.now();
        const el = Math.min(now - start, o.warmupMs + o.measureMs);
        const measuring = el >= o.warmupMs;
        if (measuring && t0 === 0) {
          t0 = now;
          recv0 = receivedTotal;
        }
        let due = Math.floor((el * o.rate) / 1000) - sent;
        while (due-- > 0) {
          clients[rr].send(measuring ? o.tag : o.warm);
          rr = (rr + 1) % clients.length;
          sent++;
          if (measuring) measured++;
        }
        if (el >= o.warmupMs + o.measureMs) {
          clearInterval(timer);
          resolve({ t: now, recv: receivedTotal - recv0 });
        }
      }, 1);
    });
    const expected = measured * o.peers;
    const d0 = performance.now();
    while ((received.get(o.tag) ?? 0) < expected && performance.now() - d0 < o.drainMs) await sleep(20);
    const lat = Float64Array.from(latencies.get(o.tag)!);
    latencies.delete(o.tag);
    const delivered = received.get(o.tag) ?? 0;
    received.delete(o.tag);
    received.delete(o.warm);
    const tl = Float64Array.from(timeline);
    timeline = [];
    // let the queues empty before the next step
    let last = receivedTotal;
    for (let i = 0; i < 100; i++) {
      await sleep(100);
      if (receivedTotal === last) break;
      last = receivedTotal;
    }
    const e = errors;
    errors = 0;
    return { type: 'step', measured, secs: (end.t - t0) / 1000, recv: end.recv, delivered, latencies: lat, timeline: tl, errors: e };
  }

  port.on('message', (o: StepOrder | { type: 'close' }) => {
    if (o.type === 'close') {
      for (const c of clients) c.close();
      port.close();
      return;
    }
    step(o).then((r) => port.postMessage(r, [r.latencies.buffer as ArrayBuffer, r.timeline.buffer as ArrayBuffer]));
  });
  port.postMessage({ type: 'ready' } satisfies LoadMessage);
}

if (parentPort) {
  const port = parentPort;
  run(port, workerData as LoadInit).catch((err: Error) => port.postMessage({ type: 'failed', error: String(err?.stack ?? err) } satisfies LoadMessage));
}
