// GET /auth/device, GET /auth/devices, DELETE /auth/device/:id — a user's own devices only.
// Deleting a device revokes its token here at once and, through /auth/revocations, on relays.
import type { FastifyInstance } from 'fastify';
import { authenticate } from '../authenticate.ts';
import type { Caller } from '../authenticate.ts';
import type { AuthContext } from '../context.ts';
import { HttpError } from '../http-errors.ts';
import { idOf, idParams } from '../schemas.ts';
import { cachedDeviceList, deviceView, listDevices, removeDevice } from '../store/devices.ts';
import type { DeviceRow } from '../store/devices.ts';
import { cached } from '../store/read-cache.ts';

const JSON_TYPE = 'application/json; charset=utf-8';

function devicesBody(me: Caller, rows: DeviceRow[]): string {
  return JSON.stringify({ ok: true, devices: rows.map((d) => deviceView(d.id === me.deviceId ? me.device : d, me.deviceId)) });
}

export function deviceRoutes(app: FastifyInstance, ctx: AuthContext): void {
  app.get('/auth/device', async (request) => {
    const me = await authenticate(ctx, request);
    return { ok: true, device: deviceView(me.device, me.deviceId) };
  });

  // Not async: on SQLite the token check and the answer come from the read cache without waiting on anything.
  app.get('/auth/devices', (request, reply) => {
    const me = authenticate(ctx, request, true);
    if (me instanceof Promise) {
      return me.then(async (caller) => reply.type(JSON_TYPE).send(devicesBody(caller, caller.devices ?? await listDevices(ctx.db, caller.userId))));
    }
    // Answered from the read cache just now (and nothing can have run since): the serialized answer per calling device.
    const cache = ctx.cache!;
    reply.type(JSON_TYPE).send(cached(cache, `b:devices:${me.deviceId}`, () => devicesBody(me, cachedDeviceList(cache, ctx.db, me.userId))));
  });

  app.delete('/auth/device/:id', { schema: { params: idParams } }, async (request) => {
    const me = await authenticate(ctx, request);
    const id = idOf(request.params);
    if (!(await removeDevice(ctx.db, me.userId, id, ctx.clock()))) throw new HttpError(404, 'DEVICE_NOT_FOUND', `You have no device with id ${id}.`);
    request.log.info({ event: 'device.removed', userId: me.userId, deviceId: id, by: me.deviceId }, 'device removed and its token revoked');
    return { ok: true };
  });
}
