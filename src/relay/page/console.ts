// The relay status page's script, run in the browser: refreshes the health figures and drives the live console,
// which joins a room through the browser's own WebSocket with the client library (bundled by scripts/build-page.ts).
import { RelayClient } from '../../client/index.ts';
import type { RelayMessage } from '../../client/index.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function setText(id: string, text: string): void {
  const el = document.getElementById(id);
  if (el) el.textContent = text;
}

async function refreshHealth(): Promise<void> {
  try {
    const h = await (await fetch('/health', { cache: 'no-store' })).json();
    setText('h-status', String(h.status));
    setText('h-uptime', `${h.uptimeSeconds} s`);
    setText('h-rooms', String(h.rooms));
    setText('h-connections', String(h.connections));
    setText('h-buffered', String(h.bufferedMessages));
  } catch {
    setText('h-status', 'unreachable');
  }
}

/** Where the relay's WebSocket is: the configured port when the page is opened directly, else /ws on this host (proxy). */
function defaultWsUrl(): string {
  const body = document.body.dataset;
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  if (location.port === body.httpPort) return `${scheme}://${location.hostname}:${body.wsPort}/ws`;
  return `${scheme}://${location.host}/ws`;
}

function preview(payload: unknown): string {
  const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return text.length > 500 ? `${text.slice(0, 500)}… (${text.length} characters)` : text;
}

function line(kind: string, text: string): void {
  const log = $<HTMLOListElement>('log');
  const li = document.createElement('li');
  li.className = kind;
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString();
  const span = document.createElement('span');
  span.textContent = text;
  li.append(time, span);
  log.prepend(li);
  while (log.children.length > 500) log.lastElementChild?.remove();
}

let client: RelayClient | null = null;

function setJoined(joined: boolean): void {
  $<HTMLButtonElement>('join').textContent = joined ? 'Leave' : 'Join';
  $<HTMLFieldSetElement>('send-box').disabled = !joined;
}

function join(): void {
  if (client) {
    client.close();
    client = null;
    setJoined(false);
    line('info', 'left the room');
    return;
  }
  const url = $<HTMLInputElement>('url').value.trim();
  const token = $<HTMLInputElement>('token').value.trim();
  const room = $<HTMLInputElement>('room').value.trim();
  const device = $<HTMLInputElement>('device').value.trim() || 'browser';
  if (!room) return line('error', 'enter a room ID');
  let c: RelayClient;
  try {
    c = new RelayClient({ url, token, room, device });
  } catch (err) {
    return line('error', (err as Error).message);
  }
  client = c;
  setJoined(true);
  // End-to-end encrypted rooms (docs/e2e.md): the console has no key; it says so once instead of showing ciphertext.
  let toldEncrypted = false;
  const encryptedRoom = (from: string) => {
    if (toldEncrypted) return;
    toldEncrypted = true;
    line('info', `this room's traffic is end-to-end encrypted (first seen from ${from}): the console cannot read it, and what it sends here is not encrypted`);
  };
  c.on('undecryptable', (u) => {
    encryptedRoom(u.from);
    line('message', `#${u.seq} ${u.from}: (end-to-end encrypted${u.replayed ? ', caught up' : ''})`);
  });
  c.on('joined', (j) => line('info', `joined ${j.room} as ${j.device}${j.host ? ' (host)' : `; host is ${j.hostDevice}`}; room seq ${j.seq}`));
  c.on('message', (m: RelayMessage) => {
    if (m.encrypted) encryptedRoom(m.from);
    line('message', `#${m.seq} ${m.from} → ${m.to}${m.replayed ? ' (caught up)' : ''}: ${m.encrypted ? '(end-to-end encrypted)' : preview(m.payload)}`);
  });
  c.on('presence', (p) => line('info', `${p.device} ${p.state}`));
  c.on('host', (h) => line('info', `host is now ${h.device}`));
  c.on('resync', (r) => line('error', `some messages left the buffer (${r.reason}); a full resync is needed`));
  c.on('error', (e) => line('error', `${e.code}: ${e.message}`));
  c.on('disconnected', (d) => line('error', `disconnected (${d.code}${d.reason ? `, ${d.reason}` : ''})${d.willRetry ? `; retrying in ${Math.round(d.delayMs / 100) / 10} s` : ''}`));
  c.on('fatal', (f) => {
    line('error', `refused: ${f.code}: ${f.message}`);
    client = null;
    setJoined(false);
  });
  void c.start();
}

function send(event: Event): void {
  event.preventDefault();
  const input = $<HTMLInputElement>('text');
  if (!client || !input.value) return;
  const to = $<HTMLInputElement>('to').value.trim() || 'broadcast';
  client.send(to, input.value);
  line('sent', `→ ${to}: ${preview(input.value)}`);
  input.value = '';
}

$<HTMLInputElement>('url').value = defaultWsUrl();
$<HTMLInputElement>('device').value = `browser-${Math.random().toString(36).slice(2, 6)}`;
$<HTMLFormElement>('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  join();
});
$<HTMLFormElement>('send-form').addEventListener('submit', send);
setJoined(false);
void refreshHealth();
setInterval(refreshHealth, 5000);
