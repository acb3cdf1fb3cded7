// `npm start`: the development stack — hone-auth on embedded SQLite with login links printed to the console.
// The relay joins here when it lands. Ctrl-C stops everything.
import { spawn } from 'node:child_process';

const programs = [{ name: 'auth', args: ['src/auth/app.ts', '--dev'] }];
const children = programs.map(({ name, args }) => {
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  child.on('exit', (code) => {
    process.stderr.write(`dev: ${name} exited with ${code}\n`);
    for (const c of children) if (c !== child) c.kill('SIGTERM');
    process.exitCode = code ?? 1;
  });
  return child;
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => children.forEach((c) => c.kill('SIGTERM')));
