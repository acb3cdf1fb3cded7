// A one-line spinner with a countdown on stderr while the CLI waits; without a terminal it prints one line only.
import type { Io } from './context.ts';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export function formatRemaining(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** Shows `text(remainingMs)` until `stop()`; `deadline` is in ms since the epoch. */
export function startSpinner(io: Io, deadline: number, text: (remaining: string) => string): { stop(finalLine?: string): void; note(line: string): void } {
  if (!io.isTTY) {
    io.stderr(text(formatRemaining(deadline - Date.now())) + '\n');
    return { stop: (line) => void (line && io.stderr(line + '\n')), note: (line) => io.stderr(line + '\n') };
  }
  let i = 0;
  const draw = () => io.stderr(`\r\x1b[2K${FRAMES[i++ % FRAMES.length]} ${text(formatRemaining(deadline - Date.now()))}`);
  draw();
  const timer = setInterval(draw, 100);
  return {
    stop(line) {
      clearInterval(timer);
      io.stderr('\r\x1b[2K' + (line ? line + '\n' : ''));
    },
    note(line) {
      io.stderr(`\r\x1b[2K${line}\n`);
      draw();
    },
  };
}
