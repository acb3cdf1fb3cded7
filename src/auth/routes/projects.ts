// POST /auth/project, GET /auth/projects, DELETE /auth/project/:id, GET /auth/subscription.
// Registration is idempotent by projectKey and bounded by the caller's tier.
import type { FastifyInstance } from 'fastify';
import { authenticate } from '../authenticate.ts';
import type { AuthContext } from '../context.ts';
import { HttpError } from '../http-errors.ts';
import * as S from '../schemas.ts';
import { listProjects, projectView, registerProject, removeProject } from '../store/projects.ts';
import { currentSubscription } from '../store/users.ts';
import { toIso } from '../time.ts';

export function projectRoutes(app: FastifyInstance, ctx: AuthContext): void {
  app.post<{ Body: { projectKey: string; name?: string } }>('/auth/project', {
    schema: { body: { type: 'object', required: ['projectKey'], properties: { projectKey: S.projectKey, name: S.projectName } } },
  }, async (request) => {
    const me = await authenticate(ctx, request);
    const now = ctx.clock();
    const { tier } = await currentSubscription(ctx.db, me.userId, now);
    const { projectKey, name = projectKey } = request.body;
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
    if (!(await removeProject(ctx.db, me.userId, id))) throw new HttpError(404, 'PROJECT_NOT_FOUND', `You have no project with id ${id}.`);
    return { ok: true };
  });

  app.get('/auth/subscription', async (request) => {
    const me = await authenticate(ctx, request);
    const sub = await currentSubscription(ctx.db, me.userId, ctx.clock());
    return { ok: true, tier: sub.tier, expiresAt: toIso(sub.expiresAt) };
  });
}
