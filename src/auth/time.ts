// The injectable clock and the conversions between it, the database's DATETIME text and API ISO strings.
// Stored times are UTC with second precision, the same on SQLite and MySQL.
export type { Clock } from '../common/clock.ts';
export { systemClock } from '../common/clock.ts';

/** Milliseconds → `YYYY-MM-DD HH:MM:SS` (UTC). */
export function toDbTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

/** `YYYY-MM-DD HH:MM:SS` (UTC) → milliseconds. */
export function fromDbTime(value: string): number {
  return Date.parse(value.replace(' ', 'T') + 'Z');
}

/** Database time → the API's `Date#toISOString()` form. */
export function toIso(value: string | null): string | null {
  return value === null ? null : new Date(fromDbTime(value)).toISOString();
}
