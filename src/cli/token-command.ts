/** `warren token rotate`: through the supervisor when one runs, else written to the socket directory directly. */
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_ROTATION_GRACE_MS, PREVIOUS_TOKEN_FILE, rotateToken, TOKEN_FILE } from '../service/auth.js';
import { checkSocketDir } from '../service/socket-dir.js';
import { type ControlClient, connectControl, isGroupMode, isNoSupervisorError } from '../supervisor/control-client.js';
import { commandSocketDir } from './socket-dir-lookup.js';
import { answerError, type JsonOption, json, reportError, type SocketDirOption, type SupervisorCommandIo } from './supervisor-commands.js';
import { formatClock, formatDuration } from './supervisor-format.js';

export interface TokenRotateOptions extends SocketDirOption, JsonOption {
  /** How long the previous token stays valid, in ms; default 60000. */
  grace?: number;
}

/**
 * `warren token rotate [--grace ms]`: a new token in the socket directory; the previous one is
 * accepted for the grace period. Through the supervisor when one runs, else written directly.
 */
export async function tokenRotateCommand(options: TokenRotateOptions, io: SupervisorCommandIo): Promise<number> {
  const now = io.now ?? Date.now;
  const { grace } = options;
  const env = io.env ?? process.env;
  const dir = commandSocketDir(options.socketDir, env);
  const started = now();
  let client: ControlClient | undefined;
  try {
    client = await connectControl(dir, { env });
  } catch (error) {
    if (!isNoSupervisorError(error)) {
      reportError(io, 'token rotate', error);
      return 2;
    }
  }

  let how: string;
  let through: number | null = null;
  if (client) {
    try {
      await client.rotateToken(grace);
      through = client.supervisor.pid;
      how = `through the supervisor (pid ${through})`;
    } catch (error) {
      return answerError(io, 'token rotate', client, error);
    } finally {
      await client.close();
    }
  } else {
    try {
      const group = isGroupDir(dir);
      await checkSocketDir(dir, { group });
      await rotateToken(dir, { group, ...(grace === undefined ? {} : { graceMs: grace }) });
      how = '(no supervisor is running: written directly)';
    } catch (error) {
      reportError(io, 'token rotate', error);
      return 2;
    }
  }

  const graceMs = grace ?? DEFAULT_ROTATION_GRACE_MS;
  const expiresAt = previousTokenExpiry(dir);
  // An older file, from an earlier rotation, expires before this one's grace period would end.
  const previous = expiresAt !== null && expiresAt >= started + graceMs ? expiresAt : null;
  if (options.json) {
    json(io, { tokenFile: join(dir, TOKEN_FILE), supervisorPid: through, previousExpiresAt: previous });
    return 0;
  }
  io.out(`rotated the token in ${join(dir, TOKEN_FILE)} ${how}\n`);
  if (previous !== null && expiresAt !== null) {
    io.out(`the previous token is accepted until ${formatClock(expiresAt, false)} (for ${formatDuration(graceMs)})\n`);
  } else {
    io.out('there was no token before\n');
  }
  return 0;
}

function isGroupDir(dir: string): boolean {
  try {
    return isGroupMode(lstatSync(dir));
  } catch {
    return false;
  }
}

function previousTokenExpiry(dir: string): number | null {
  try {
    const { expiresAt } = JSON.parse(readFileSync(join(dir, PREVIOUS_TOKEN_FILE), 'utf8')) as { expiresAt?: unknown };
    return typeof expiresAt === 'number' ? expiresAt : null;
  } catch {
    return null;
  }
}
