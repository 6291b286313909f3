/**
 * Instances left behind by a supervisor that died (kill -9) and that did not exit by themselves
 * (a process that never reached runService, or one that ignores its IPC channel closing).
 *
 * Every instance is started with WARREN_SUPERVISOR_PID and WARREN_SOCKET_DIR in its
 * environment, which its own children inherit. A new supervisor holds the control socket of the
 * directory before it looks, so any other supervisor of that directory is gone: a process of
 * this user whose environment names this socket directory and a supervisor pid that no longer
 * runs is an orphan. Linux only (it reads /proc); elsewhere there is nothing to find.
 */
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { SOCKET_DIR_ENV } from '../service/socket-dir.js';

/** Environment variable: the pid of the supervisor that started an instance. */
export const SUPERVISOR_PID_ENV = 'WARREN_SUPERVISOR_PID';

export interface Orphan {
  pid: number;
  supervisorPid: number;
}

/** Orphaned instances (and their children) of `socketDir`; `[]` where /proc cannot be read. */
export async function findOrphans(socketDir: string, isRunning: (pid: number) => boolean = pidRuns): Promise<Orphan[]> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return [];
  }
  const dirEntry = `${SOCKET_DIR_ENV}=${socketDir}`;
  const orphans: Orphan[] = [];
  for (const name of entries) {
    if (!/^[0-9]+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    let environ: string;
    try {
      // Readable for this user's processes only: others are never ours.
      environ = await readFile(`/proc/${name}/environ`, 'utf8');
    } catch {
      continue;
    }
    const vars = environ.split('\0');
    if (!vars.includes(dirEntry)) continue;
    const supervisor = vars.find((entry) => entry.startsWith(`${SUPERVISOR_PID_ENV}=`));
    if (supervisor === undefined) continue;
    const supervisorPid = Number(supervisor.slice(SUPERVISOR_PID_ENV.length + 1));
    if (!Number.isSafeInteger(supervisorPid) || supervisorPid === process.pid || isRunning(supervisorPid)) continue;
    orphans.push({ pid, supervisorPid });
  }
  return orphans;
}

/** SIGKILLs each orphan and resolves once all are gone (or after `timeoutMs`); returns those killed. */
export async function killOrphans(orphans: readonly Orphan[], timeoutMs = 2000): Promise<Orphan[]> {
  const killed: Orphan[] = [];
  for (const orphan of orphans) {
    try {
      process.kill(orphan.pid, 'SIGKILL');
      killed.push(orphan);
    } catch {
      // Gone already.
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (killed.some((orphan) => pidRuns(orphan.pid)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return killed;
}

/** True while `pid` runs: an exited process that is not reaped yet (a zombie) does not. */
export function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    // `pid (comm) state …`: comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) === 'Z';
  } catch {
    return false;
  }
}
