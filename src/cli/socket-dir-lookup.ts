/**
 * Which socket directory a command talks to when none is named: `--socket-dir`, else
 * WARREN_SOCKET_DIR, else the project's directory (see projectSocketDir) of the current directory
 * or the nearest parent that has one, else the default. So `warren status` run anywhere inside a
 * project finds the supervisor `warren up` started there with the default socket directory.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { defaultSocketBase, projectSocketDir, SOCKET_DIR_ENV } from '../service/socket-dir.js';

export function commandSocketDir(option: string | undefined, env: NodeJS.ProcessEnv, cwd: string = process.cwd()): string {
  if (option) return resolve(option);
  const fromEnv = env[SOCKET_DIR_ENV];
  if (fromEnv) return resolve(fromEnv);
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const candidate = projectSocketDir(dir, env);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return defaultSocketBase(env);
  }
}
