// Debian's Chromium driven by playwright-core (which downloads no browser of its own), headless, with the flags
// the machine needs; browser tests share this one launcher (and skip with requires(['chromium']) where it is absent).
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { CHROMIUM_PATH } from './tools.ts';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
