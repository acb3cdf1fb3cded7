// The relay's page in Debian's Chromium: status figures, and the live console joining a project room through the
// browser's WebSocket and showing a message the real hone-sync CLI sends, and saying so when the project is end-to-end
// encrypted instead of showing ciphertext. Also: the served bundle is not stale.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/browser.ts';
import { requires } from '../helpers/tools.ts';
import { adminSetTier } from '../../src/auth/admin.ts';
import { BUNDLE_PATH, bundleConsole } from '../../scripts/build-page.ts';
import { startAuth } from '../helpers/auth.ts';
import type { TestAuth } from '../helpers/auth.ts';
import { startRelay } from '../helpers/relay.ts';
import type { TestRelay } from '../helpers/relay.ts';
import { run } from '../cli/run.ts';

const CHROMIUM = requires(['chromium']);
let auth: TestAuth;
let relay: TestRelay;
let browser: Browser;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hone-relay-page-'));
  auth = await startAuth('sqlite');
  relay = await startRelay({ 'auth.url': auth.url });
  if (!CHROMIUM.skip) browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await relay?.close();
  await auth?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the served console bundle is what scripts/build-page.ts makes from the sources (npm run build:page)', async () => {
  assert.equal(readFileSync(fileURLToPath(BUNDLE_PATH), 'utf8'), await bundleConsole());
});

test('status page and live console: joins a project room and shows a message sent with hone-sync send', CHROMIUM, async () => {
  const desk = await auth.signIn('page@example.com', 'desk', 'linux');
  const browserDevice = await auth.signIn('page@example.com', 'browser', 'web');
  await adminSetTier(auth.adb, ['page@example.com', 'pro'], undefined, auth.clock.now);
  const project = await auth.json('/auth/project', { method: 'POST', token: desk.deviceToken, body: JSON.stringify({ projectKey: 'page-notes', name: 'Notes' }), headers: { 'content-type': 'application/json' } });
  assert.equal(project.status, 200, JSON.stringify(project.body));
  const roomId: string = project.body.project.roomId;

  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(relay.httpUrl + '/');
  assert.equal(await page.locator('#h-status').textContent(), 'ok');
  assert.equal(await page.inputValue('#url'), relay.wsUrl + '/ws', 'the console finds the WebSocket port');
  await page.fill('#token', browserDevice.deviceToken);
  await page.fill('#room', roomId);
  await page.fill('#device', 'phone-browser');
  await page.click('#join');
  await page.locator('#log li', { hasText: `joined ${roomId} as phone-browser` }).waitFor({ timeout: 10_000 });
  await page.locator('#h-connections', { hasText: '1' }).waitFor({ timeout: 10_000 });

  const home = join(dir, 'desk');
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, 'sync.conf'), `syncEnabled=true\nsyncAuthUrl=${auth.url}\nsyncRelayUrl=${relay.wsUrl}\nsyncDeviceToken=${desk.deviceToken}\n`, { mode: 0o600 });
  const sent = await run(['send', 'page-notes', 'hello from the desk <b>not bold</b>'], { HOME: home, HONE_SYNC_CONFIG: join(home, 'sync.conf') });
  assert.equal(sent.code, 0, sent.stderr);
  const line = page.locator('#log li.message', { hasText: 'hello from the desk' });
  await line.waitFor({ timeout: 10_000 });
  assert.match(await line.textContent() ?? '', /#1 \S+\/send → broadcast: hello from the desk <b>not bold<\/b>/, 'text, not HTML');
  assert.equal(await page.locator('#log b').count(), 0, 'message text is never parsed as HTML');

  // And the browser can answer: the desk's watch would see it; here the relay's metrics count it.
  await page.fill('#text', 'hi desk');
  await page.click('#send-form button');
  await page.locator('#log li.sent', { hasText: 'hi desk' }).waitFor();

  // The project end-to-end encrypted on the desk (docs/e2e.md): the console has no key and says so, showing no ciphertext.
  const deskEnv = { HOME: home, HONE_SYNC_CONFIG: join(home, 'sync.conf') };
  const keyed = await run(['key', 'set', 'page-notes'], { ...deskEnv, HONE_SYNC_PASSPHRASE: 'page passphrase 1' });
  assert.equal(keyed.code, 0, keyed.stderr);
  assert.match(keyed.stdout, /A mirror already running reads the key when it starts: restart it\.\n$/);
  const sealed = await run(['send', 'page-notes', 'encrypted words'], deskEnv);
  assert.equal(sealed.code, 0, sealed.stderr);
  await page.locator('#log li.info', { hasText: "this room's traffic is end-to-end encrypted (first seen from" }).waitFor({ timeout: 10_000 });
  await page.locator('#log li.message', { hasText: '(end-to-end encrypted)' }).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('#log li', { hasText: 'encrypted words' }).count(), 0);
  assert.equal(await page.locator('#log li', { hasText: 'hse.' }).count(), 0, 'no ciphertext shown');
  mkdirSync('test-artifacts', { recursive: true });
  await page.screenshot({ path: 'test-artifacts/relay-console.png', fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a wrong token in the console is shown as a refusal, not retried forever', CHROMIUM, async () => {
  const page = await browser.newPage();
  await page.goto(relay.httpUrl + '/');
  await page.fill('#token', '1:2:3.deadbeef');
  await page.fill('#room', 'pair-PAGE');
  await page.click('#join');
  await page.locator('#log li.error', { hasText: 'refused: INVALID_TOKEN' }).waitFor({ timeout: 10_000 });
  assert.equal(await page.textContent('#join'), 'Join');
  await page.close();
});
