// POST /auth/project, GET /auth/projects, DELETE /auth/project/:id, GET /auth/subscription.
// Registration is idempotent by projectKey and bounded by the caller's tier.
import type { FastifyInstance } from 'fastify';
import { authenticate } from '../authenticate.ts';
import type { AuthContext } from '../context.ts';
import { HttpError } from '../http-errors.ts';
import * as S from '../schemas.ts';
import { cachedByKey, findByKey, listProjects, projectView, registerProject, removeProject } from '../store/projects.ts';
import { checkOwnWrites } from '../store/read-cache.ts';
import { cachedSubscription, currentSubscription } from '../store/users.ts';
import { toIso } from '../time.ts';

export function projectRoutes(app: FastifyInstance, ctx: AuthContext): void {
  app.post<{ Body: { projectKey: string; name?: string } }>('/auth/project', {
    schema: { body: { type: 'object', required: ['projectKey'], properties: { projectKey: S.projectKey, name: S.projectName } } },
  }, async (request) => {
    const me = await authenticate(ctx, request);
    const { projectKey, name = projectKey } = request.body;
    // Re-registering a key (what the IDE does on every start) is a read; on SQLite, from the read cache.
    const cache = ctx.cache && checkOwnWrites(ctx.cache) ? ctx.cache : undefined;
    const existing = cache ? cachedByKey(cache, ctx.db, me.userId, projectKey) : await findByKey(ctx.db, me.userId, projectKey);
    if (existing) return { ok: true, project: projectView(existing) };
    const now = ctx.clock();
    const { tier } = await currentSubscription(ctx.db, me.userId, now);
    const row = await registerProject(ctx.db, { userId: me.userId, projectKey, name, tier, now, secret: ctx.keys.secret });
    return { ok: true, project: projectView(row) };
  });

  app.get('/auth/projects', async (request) => {
    const me = await authenticate(ctx, request);
    return { ok: true, projects: (await listProjects(ctx.db, me.userId)).map(projectView) };
  });

  app.delete('/auth/project/:id', { schema: { params: S.idParams } }, async (request) => {
    const me = await authenticate(ctx, request);
    const id = S.idOf(request.params);
    if (!(await removeProject(ctx.db, me.userId, id, ctx.clock()))) throw new HttpError(404, 'PROJECT_NOT_FOUND', `You have no project with id ${id}.`);
    return { ok: true };
  });

  app.get('/auth/subscription', async (request) => {
    const me = await authenticate(ctx, request);
    const sub = ctx.cache && checkOwnWrites(ctx.cache)
      ? cachedSubscription(ctx.cache, ctx.db, me.userId, ctx.clock())
      : await currentSubscription(ctx.db, me.userId, ctx.clock());
    return { ok: true, tier: sub.tier, expiresAt: toIso(sub.expiresAt) };
  });
}
