// hone-sync's command line: global flags and each command's own, parsed with node:util parseArgs.
// Unknown flags are a usage error naming the flag.
import { parseArgs } from 'node:util';
import { usage } from './exit-codes.ts';

export interface CliArgs {
  command: string | undefined;
  rest: string[];
  config?: string;
  json: boolean;
  help: boolean;
  version: boolean;
  name?: string;
  to?: string;
  count?: number;
  timeout?: number;
  project?: string;
  /** mirror: create the folder when it does not exist. */
  create: boolean;
}

const positiveNumber = (flag: string, raw: string | undefined): number | undefined => {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !(n > 0)) throw usage(`--${flag} takes a positive number, got "${raw}"`);
  return n;
};

export function parseCliArgs(argv: string[]): CliArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
        name: { type: 'string' },
        to: { type: 'string' },
        count: { type: 'string' },
        timeout: { type: 'string' },
        project: { type: 'string', short: 'p' },
        create: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    throw usage((err as Error).message.split('. ')[0].replace(/\.$/, ''));
  }
  const { values: v, positionals } = parsed;
  const count = positiveNumber('count', v.count);
  if (count !== undefined && !Number.isInteger(count)) throw usage(`--count takes a whole number, got "${v.count}"`);
  return {
    command: positionals[0], rest: positionals.slice(1), config: v.config, json: !!v.json, help: !!v.help, version: !!v.version,
    name: v.name, to: v.to, count, timeout: positiveNumber('timeout', v.timeout), project: v.project, create: !!v.create,
  };
}
