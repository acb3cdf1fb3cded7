// The magic link opened in a real browser (Debian's Chromium via playwright-core): the confirm page,
// the click that signs the device in, the poll that hands the token to the asking device.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/browser.ts';
import { requires } from '../helpers/tools.ts';
import { startAuth } from '../helpers/auth.ts';
import type { TestAuth } from '../helpers/auth.ts';

const CHROMIUM = requires(['chromium']);
let a: TestAuth;
let browser: Browser;

before(async () => {
  if (CHROMIUM.skip) return;
  a = await startAuth('sqlite');
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await a?.close();
});

test('a phone opens the e-mailed link, confirms, and the desktop receives its token', CHROMIUM, async () => {
  const login = await a.json('/auth/login?email=pixel@example.com&deviceName=Pixel%208&platform=android');
  const link = a.smtp.linkIn(await a.smtp.nextMail('pixel@example.com'));
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await page.goto(link);
  await page.getByRole('button', { name: 'Sign in Pixel 8' }).waitFor();
  assert.equal((await a.json(`/auth/login/poll?pollToken=${login.body.pollToken}`)).status, 202, 'opening the page does not use the link');

  await page.click('#confirm');
  await page.locator('#result').waitFor();
  assert.equal(await page.locator('#result').textContent(), 'Signed in');
  assert.match(await page.content(), /Pixel 8/);
  mkdirSync('test-artifacts', { recursive: true });
  await page.screenshot({ path: 'test-artifacts/verify-signed-in.png' });

  const polled = await a.json(`/auth/login/poll?pollToken=${login.body.pollToken}`);
  assert.equal(polled.status, 200);
  const me = await a.json('/auth/device', { token: polled.body.deviceToken });
  assert.equal(me.body.device.deviceName, 'Pixel 8');
  assert.equal(me.body.device.platform, 'android');

  await page.goto(link);
  assert.equal(await page.locator('#result').textContent(), 'Link already used');
  await page.close();
});
