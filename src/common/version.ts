// The package version, read once from package.json; shown by --version, /health and start-up logs.
import { readFileSync } from 'node:fs';

export const VERSION: string = (() => {
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
  } catch {
    return '0.0.0';
  }
})();
