// GET /auth/device, GET /auth/devices, DELETE /auth/device/:id — a user's own devices only.
// Deleting a device revokes its token here at once and, through /auth/revocations, on relays.
import type { FastifyInstance } from 'fastify';
import { authenticate } from '../authenticate.ts';
import type { AuthContext } from '../context.ts';
import { HttpError } from '../http-errors.ts';
import { idOf, idParams } from '../schemas.ts';
import { deviceView, listDevices, removeDevice } from '../store/devices.ts';

export function deviceRoutes(app: FastifyInstance, ctx: AuthContext): void {
  app.get('/auth/device', async (request) => {
    const me = await authenticate(ctx, request);
    return { ok: true, device: deviceView(me.device, me.deviceId) };
  });

  app.get('/auth/devices', async (request) => {
    const me = await authenticate(ctx, request);
    const rows = await listDevices(ctx.db, me.userId);
    return { ok: true, devices: rows.map((d) => deviceView(d.id === me.deviceId ? me.device : d, me.deviceId)) };
  });

  app.delete('/auth/device/:id', { schema: { params: idParams } }, async (request) => {
    const me = await authenticate(ctx, request);
    const id = idOf(request.params);
    if (!(await removeDevice(ctx.db, me.userId, id, ctx.clock()))) throw new HttpError(404, 'DEVICE_NOT_FOUND', `You have no device with id ${id}.`);
    request.log.info({ event: 'device.removed', userId: me.userId, deviceId: id, by: me.deviceId }, 'device removed and its token revoked');
    return { ok: true };
  });
}
