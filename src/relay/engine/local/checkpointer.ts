// Runs SQLite WAL checkpoints of the relay's buffer on a worker thread, so copying the log into the database file
// and its fsyncs never stall the event loop; the main connection's automatic checkpoints are turned off meanwhile.
import { Worker } from 'node:worker_threads';

// Plain CommonJS evaluated in the worker: only built-in modules, so it also runs inside the single binary.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(workerData.path, { timeout: 1000 });
const run = (mode) => { try { db.exec('PRAGMA wal_checkpoint(' + mode + ')'); } catch {} };
const timer = setInterval(() => run('PASSIVE'), workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  run('TRUNCATE');
  db.close();
  parentPort.postMessage('stopped');
});
`;

export interface Checkpointer {
  stop(): Promise<void>;
}

/** Starts checkpointing `path` every `intervalMs`; `onFailure` is told if the worker dies (the caller falls back). */
export function startCheckpointer(path: string, intervalMs: number, onFailure: (err: Error) => void): Checkpointer {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, intervalMs } });
  worker.unref();
  let stopping = false;
  worker.on('error', (err: Error) => onFailure(err));
  worker.on('exit', (code) => {
    if (!stopping) onFailure(new Error(`checkpoint worker exited with ${code}`));
  });
  return {
    stop() {
      if (stopping) return Promise.resolve();
      stopping = true;
      return new Promise<void>((resolve) => {
        const done = () => resolve();
        worker.once('message', done);
        worker.once('exit', done);
        worker.postMessage('stop');
        setTimeout(() => void worker.terminate().then(done), 5000).unref();
      });
    },
  };
}
