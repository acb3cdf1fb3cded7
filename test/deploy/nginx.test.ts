// deploy/nginx/hone-sync.conf as shipped: `nginx -t` accepts it inside Debian's nginx.conf, and real nginx on loopback
// (self-signed certificate, high ports) in front of the binaries carries wss://…/ws and https://…/auth/… end to end.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBinaries } from '../../scripts/build-bin.ts';
import { VERSION } from '../../src/common/version.ts';
import { freePort } from '../helpers/process.ts';
import { startSmtp } from '../helpers/smtp.ts';
import type { TestSmtp } from '../helpers/smtp.ts';
import { bareEnv, fetchVia, loginProjectRelayFlow, loopbackLookup, startProgram } from '../helpers/stack.ts';
import type { Net, Started } from '../helpers/stack.ts';
import { findTool, requires } from '../helpers/tools.ts';

const SITE = fileURLToPath(new URL('../../deploy/nginx/hone-sync.conf', import.meta.url));
const CERT_DIR = '/etc/letsencrypt/live/hone-sync/';
const SECRET = 'nginx-test-secret-0123456789abcdef0123456789abcdef';

/** Debian installs nginx in /usr/sbin, which is not on every user's PATH (findTool looks there too). */
const NGINX = findTool('nginx') ?? 'nginx';
/** nginx and openssl (its test certificate) for both tests; strip (npm run build:bin) for the one that runs the binaries. */
const NGINX_T = requires(['nginx', 'openssl']);
const NGINX_RUN = requires(['nginx', 'openssl', 'strip']);

let dir: string;
let net: Net;

/** Replaces `from` with `to` in `text`, failing when the shipped file no longer contains `from` (`count` times). */
function sub(text: string, from: string, to: string, count?: number): string {
  const n = text.split(from).length - 1;
  assert.ok(n > 0, `the site file contains ${JSON.stringify(from)}`);
  if (count !== undefined) assert.equal(n, count, `${JSON.stringify(from)} occurs ${count} times`);
  return text.split(from).join(to);
}

function nginxVersion(): string {
  const r = spawnSync(NGINX, ['-v'], { encoding: 'utf8' });
  if (r.error) throw new Error('nginx is not installed: apt-get install nginx (.ci/run does this)');
  return r.stderr.trim();
}

before(() => {
  if (NGINX_T.skip) return;
  nginxVersion();
  dir = mkdtempSync(join(tmpdir(), 'hone-nginx-'));
  mkdirSync(join(dir, 'certs'));
  // One self-signed certificate for both names, as the Let's Encrypt certificate named hone-sync would be.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=auth.example.com', '-addext', 'subjectAltName=DNS:auth.example.com,DNS:sync.example.com',
    '-keyout', join(dir, 'certs', 'privkey.pem'), '-out', join(dir, 'certs', 'fullchain.pem')], { stdio: 'pipe' });
  net = { ca: readFileSync(join(dir, 'certs', 'fullchain.pem'), 'utf8'), lookup: loopbackLookup };
});
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

describe('nginx site', () => {
  test(`nginx -t passes on the shipped site inside Debian's nginx.conf${NGINX_T.skip ? '' : ` (${nginxVersion()})`}`, NGINX_T, () => {
    const main = readFileSync('/etc/nginx/nginx.conf', 'utf8');
    const sites = join(dir, 'sites-enabled');
    mkdirSync(sites);
    // Only the certificate paths change: the Let's Encrypt files do not exist here.
    writeFileSync(join(sites, 'hone-sync'), sub(readFileSync(SITE, 'utf8'), CERT_DIR, join(dir, 'certs') + '/'));
    writeFileSync(join(dir, 'debian-nginx.conf'), sub(main, 'include /etc/nginx/sites-enabled/*;', `include ${sites}/*;`, 1));
    const r = spawnSync(NGINX, ['-t', '-c', join(dir, 'debian-nginx.conf')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /syntax is ok/);
    assert.match(r.stderr, /test is successful/);
    assert.doesNotMatch(r.stderr, /\[warn\]|\[emerg\]/, r.stderr);
  });

  test('real nginx on loopback in front of the binaries: https://auth…/auth/…, wss://sync…/ws, ACME webroot, redirects', NGINX_RUN, async (t) => {
    const built = await buildBinaries();
    const smtp: TestSmtp = await startSmtp();
    const [p80, p443, authPort, httpPort, wsPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const authUrl = `https://auth.example.com:${p443}`;

    // The shipped site with ports, certificate and webroot moved to the test's own.
    let site = readFileSync(SITE, 'utf8');
    site = sub(site, '    listen [::]:80;\n', '', 1);
    site = sub(site, '    listen [::]:443 ssl;\n', '', 2);
    site = sub(site, 'listen 80;', `listen 127.0.0.1:${p80};`, 1);
    site = sub(site, 'listen 443 ssl;', `listen 127.0.0.1:${p443} ssl;`, 2);
    site = sub(site, '127.0.0.1:8445;', `127.0.0.1:${authPort};`, 1);
    site = sub(site, '127.0.0.1:8443;', `127.0.0.1:${httpPort};`, 1);
    site = sub(site, '127.0.0.1:8444;', `127.0.0.1:${wsPort};`, 1);
    site = sub(site, CERT_DIR, join(dir, 'certs') + '/');
    site = sub(site, 'root /var/www/html;', `root ${join(dir, 'webroot')};`, 1);
    mkdirSync(join(dir, 'webroot', '.well-known', 'acme-challenge'), { recursive: true });
    writeFileSync(join(dir, 'webroot', '.well-known', 'acme-challenge', 'tok123'), 'tok123.key-authorization');
    writeFileSync(join(dir, 'site-run.conf'), site);
    mkdirSync(join(dir, 'temp'));
    writeFileSync(join(dir, 'nginx-run.conf'), `daemon off;
${process.getuid?.() === 0 ? 'user root root;' : ''}
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} info;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log ${join(dir, 'access.log')};
  client_body_temp_path ${join(dir, 'temp')} 1;
  proxy_temp_path ${join(dir, 'temp')} 1;
  fastcgi_temp_path ${join(dir, 'temp')} 1;
  uwsgi_temp_path ${join(dir, 'temp')} 1;
  scgi_temp_path ${join(dir, 'temp')} 1;
  include ${join(dir, 'site-run.conf')};
}
`);

    let nginx: ChildProcess | undefined;
    const started: Started[] = [];
    try {
      nginx = spawn(NGINX, ['-e', join(dir, 'error.log'), '-p', dir, '-c', join(dir, 'nginx-run.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let nginxOut = '';
      nginx.stderr!.setEncoding('utf8').on('data', (d: string) => (nginxOut += d));
      await waitForPort(p443, () => `nginx did not start: ${nginxOut}${safeRead(join(dir, 'error.log'))}`);

      // The binaries, each from its own directory with only its config file, set up as docs/self-hosting.md says.
      const authDir = join(dir, 'auth');
      const relayDir = join(dir, 'relay');
      mkdirSync(authDir);
      mkdirSync(relayDir);
      copyFileSync(built.paths['hone-auth'], join(authDir, 'hone-auth'));
      copyFileSync(built.paths['hone-relay'], join(relayDir, 'hone-relay'));
      writeFileSync(join(authDir, 'auth.conf'), [
        'host=127.0.0.1', `port=${authPort}`, `auth.secret=${SECRET}`, `auth.publicUrl=${authUrl}`, 'trustProxy=true',
        'smtp.host=127.0.0.1', `smtp.port=${smtp.port}`, 'tiers.default=free',
      ].join('\n') + '\n');
      writeFileSync(join(relayDir, 'relay.conf'), [
        'host=127.0.0.1', `port=${httpPort}`, `ws.port=${wsPort}`, `auth.secret=${SECRET}`, `auth.url=http://127.0.0.1:${authPort}`, 'trustProxy=true',
      ].join('\n') + '\n');
      started.push(await startProgram([join(authDir, 'hone-auth')], authDir, bareEnv()));
      started.push(await startProgram([join(relayDir, 'hone-relay')], relayDir, bareEnv()));

      const health = await fetchVia(net, `https://sync.example.com:${p443}/health`);
      assert.equal(health.status, 200, health.text);
      assert.equal(health.json.version, VERSION);
      assert.equal(health.headers['strict-transport-security'], 'max-age=31536000');
      const status = await fetchVia(net, `https://sync.example.com:${p443}/`, { headers: { accept: 'text/html' } });
      assert.match(status.text, /Hone Sync relay/);
      assert.equal((await fetchVia(net, `https://sync.example.com:${p443}/metrics`)).status, 404, '/metrics is not public');
      assert.equal((await fetchVia(net, `${authUrl}/health`)).json.version, VERSION);
      const redirect = await fetchVia(net, `http://auth.example.com:${p80}/auth/login?email=x`);
      assert.equal(redirect.status, 301);
      assert.equal(redirect.headers.location, 'https://auth.example.com/auth/login?email=x');
      const acme = await fetchVia(net, `http://sync.example.com:${p80}/.well-known/acme-challenge/tok123`);
      assert.equal(acme.status, 200);
      assert.equal(acme.text, 'tok123.key-authorization');

      await loginProjectRelayFlow({
        authUrl, wsUrl: `wss://sync.example.com:${p443}/ws`, net, smtp,
        async setTierPro(email) {
          const r = spawnSync(join(authDir, 'hone-auth'), ['admin', 'set-tier', email, 'pro'], { cwd: authDir, env: bareEnv(), encoding: 'utf8' });
          assert.equal(r.status, 0, r.stderr);
        },
      });
      // The WebSocket really went through nginx: it answered the upgrade.
      assert.match(readFileSync(join(dir, 'access.log'), 'utf8'), /"GET \/ws HTTP\/1\.1" 101 /);
      t.diagnostic(nginxVersion());
    } finally {
      for (const s of started.reverse()) await s.stop();
      if (nginx && nginx.exitCode === null) {
        const exited = new Promise((resolve) => nginx!.once('exit', resolve));
        nginx.kill('SIGTERM');
        await exited;
      }
      await smtp.close();
    }
  });
});

function safeRead(path: string): string {
  try { return readFileSync(path, 'utf8'); } catch { return ''; }
}

async function waitForPort(port: number, why: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(why());
    await new Promise((r) => setTimeout(r, 50));
  }
}
