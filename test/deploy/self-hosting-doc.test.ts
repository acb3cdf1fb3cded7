// docs/self-hosting.md works as written: its config files load without warnings and pass the start-up checks, and
// what it names agrees with the shipped files (ports, paths, units, the nginx site, hone-auth's commands).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, parseKeyValue, PLACEHOLDER_SECRET } from '../../src/common/config.ts';
import { authConfigSchema, checkAuthConfig } from '../../src/auth/config.ts';
import { checkRelayConfig, relayConfigSchema } from '../../src/relay/config.ts';

const file = (rel: string) => fileURLToPath(new URL(`../../${rel}`, import.meta.url));
const DOC = readFileSync(file('docs/self-hosting.md'), 'utf8');
const SITE = readFileSync(file('deploy/nginx/hone-sync.conf'), 'utf8');

/** The config blocks: a fenced block right after `<!-- config: auth|relay -->`. */
function configBlocks(): Array<{ program: 'auth' | 'relay'; text: string }> {
  return [...DOC.matchAll(/<!-- config: (auth|relay) -->\n```ini\n([\s\S]*?)```/g)].map((m) => ({ program: m[1] as 'auth' | 'relay', text: m[2] }));
}

test('every config file in the guide loads without warnings and passes the start-up checks', () => {
  const blocks = configBlocks();
  assert.deepEqual(blocks.map((b) => b.program), ['auth', 'auth', 'relay']);
  for (const b of blocks) {
    const warnings: string[] = [];
    const overrides = Object.fromEntries([...parseKeyValue(b.text, b.program)].map(([k, v]) => [k, v.value]));
    // The guide's secret is a placeholder: copied as is, the start refuses it; a real one passes.
    assert.equal(overrides['auth.secret'], PLACEHOLDER_SECRET);
    const check = b.program === 'auth' ? () => checkAuthConfig(loadConfig(authConfigSchema, { overrides, env: {} })) : () => checkRelayConfig(loadConfig(relayConfigSchema, { overrides, env: {} }));
    assert.throws(check, (e) => e instanceof ConfigError && /placeholder/.test(e.message));
    overrides['auth.secret'] = 'f'.repeat(64);
    if (b.program === 'auth') {
      const c = checkAuthConfig(loadConfig(authConfigSchema, { overrides, env: {}, warn: (m) => warnings.push(m) }));
      assert.equal(c.host, '127.0.0.1');
      assert.equal(c.trustProxy, true);
      assert.ok(c['db.host'] || c['sqlite.path'].startsWith('/var/lib/hone-auth/'), 'SQLite inside the StateDirectory');
      assert.ok(SITE.includes(`server 127.0.0.1:${c.port};`), 'nginx proxies to the auth port');
    } else {
      const c = checkRelayConfig(loadConfig(relayConfigSchema, { overrides, env: {}, warn: (m) => warnings.push(m) }));
      assert.equal(c.host, '127.0.0.1');
      assert.ok(c['sqlite.path'].startsWith('/var/lib/hone-relay/'));
      assert.ok(SITE.includes(`server 127.0.0.1:${c.port};`) && SITE.includes(`server 127.0.0.1:${c['ws.port']};`), 'nginx proxies to both relay ports');
      assert.equal(c['auth.url'], 'http://127.0.0.1:8445');
    }
    assert.deepEqual(warnings, [], `no unknown keys in the ${b.program} block`);
  }
  const secrets = new Set(blocks.map((b) => /^auth\.secret=(.*)$/m.exec(b.text)?.[1]));
  assert.match(DOC, /refuse(s|d)? to start[^.]*placeholder|placeholder[^.]*refuse/i, 'the guide says the placeholder is refused');
  assert.equal(secrets.size, 1, 'one shared secret in every file');
});

test('the files and units the guide names exist and agree with it', () => {
  for (const rel of ['deploy/systemd/hone-auth.service', 'deploy/systemd/hone-relay.service', 'deploy/nginx/hone-sync.conf', 'auth.conf.example', 'relay.conf.example', 'docs/operations.md']) {
    assert.ok(DOC.includes(rel.replace('docs/', '')), `the guide names ${rel}`);
    assert.ok(existsSync(file(rel)), rel);
  }
  for (const name of ['auth', 'relay']) {
    const unit = readFileSync(file(`deploy/systemd/hone-${name}.service`), 'utf8');
    assert.ok(DOC.includes(`/etc/hone-sync/${name}.conf`) && unit.includes(`--config /etc/hone-sync/${name}.conf`));
    assert.ok(DOC.includes(`useradd --system --home-dir /var/lib/hone-${name}`) && unit.includes(`User=hone-${name}`));
  }
  // certbot's certificate name and webroot are the ones the site reads.
  assert.match(DOC, /certbot certonly --webroot -w \/var\/www\/html --cert-name hone-sync/);
  assert.ok(SITE.includes('/etc/letsencrypt/live/hone-sync/fullchain.pem') && SITE.includes('root /var/www/html;'));
  assert.ok(DOC.includes('wss://sync.example.com/ws') && SITE.includes('location /ws {'));
});

test("the hone-auth commands the guide uses are in hone-auth's usage", () => {
  const app = readFileSync(file('src/auth/app.ts'), 'utf8');
  for (const cmd of ['hone-auth secret', 'admin set-tier', 'admin users', 'hone-auth --version']) {
    assert.ok(DOC.includes(cmd), cmd);
    assert.ok(app.includes(cmd.replace('hone-auth --version', 'hone-auth --version |')), `usage names ${cmd}`);
  }
});
