// The starting point of the mirror suites: an end-to-end stack (SQLite) with one user signed in on two devices, made
// pro, and a project "notes" added by the first device.
import assert from 'node:assert/strict';
import { startStack } from '../helpers/e2e.ts';
import type { Device, Stack } from '../helpers/e2e.ts';

export const EMAIL = 'ann@example.com';

export async function projectStack(names: [string, string]): Promise<{ stack: Stack; devices: [Device, Device]; roomId: string }> {
  const stack = await startStack('sqlite');
  try {
    const devices: [Device, Device] = [await stack.device(names[0]), await stack.device(names[1])];
    for (const dev of devices) assert.equal((await stack.login(dev, EMAIL)).code, 0, `login on ${dev.name}`);
    assert.equal((await stack.setTier(EMAIL, 'pro')).code, 0);
    const added = await devices[0].run(['projects', 'add', 'notes', '--json']);
    assert.equal(added.code, 0, added.stderr);
    return { stack, devices, roomId: JSON.parse(added.stdout).project.roomId };
  } catch (err) {
    await stack.close();
    throw err;
  }
}
