// The keys open connections are counted under (engine.connections: limits.ip.connections, limits.user.connections):
// a client address (IPv6 per /64) and an account.
import { isIPv6 } from 'node:net';

/** The counting key of a client address: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by its /64; anything else as given. */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return `ip:${mapped[1]}`;
  if (!isIPv6(ip)) return `ip:${ip.slice(0, 64)}`;
  const [left, right = ''] = ip.toLowerCase().split('::');
  const head = left === '' ? [] : left.split(':');
  const tail = right === '' ? [] : right.split(':');
  const groups = ip.includes('::') ? [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail] : head;
  return `ip:${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export const userKey = (userId: number): string => `user:${userId}`;
