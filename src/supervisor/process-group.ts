/**
 * A service's process group: SIGKILL to every member, and a wait until none of them runs.
 *
 * A signal is delivered asynchronously: `process.kill(-pgid, 'SIGKILL')` returns before the
 * members have died, and a grandchild (not our child, so no 'exit' event tells us) may still run
 * for a moment. Whoever promises "no process is left" (stop(), a restart that reuses the socket)
 * waits here until the group is empty.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** How often the group is looked at while it empties: from 5 ms, doubling, at most every 50 ms. */
const POLL_FIRST_MS = 5;
const POLL_MAX_MS = 50;

/** SIGKILL to every member of the group `pgid`; false when it had none. */
export function killGroup(pgid: number): boolean {
  try {
    process.kill(-pgid, 'SIGKILL');
    return true;
  } catch {
    // ESRCH: nothing left in the group.
    return false;
  }
}

/**
 * True while a member of the group `pgid` runs. An exited member that is not reaped yet (a
 * zombie, whose new parent may be a container's pid 1 that never reaps) does not run. Reads /proc
 * where there is one; elsewhere a zombie counts as running.
 */
export function groupRuns(pgid: number): boolean {
  // The cheap answer first: no member at all (ESRCH), the common case once the service itself
  // has exited. Reading every /proc/<pid>/stat is only worth it when something is left, to tell
  // a zombie from a process; doing it every few ms during each reload took CPU from the
  // instances serving meanwhile (bench/supervisor).
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return true; // a member exists (or one we may not signal, EPERM) and /proc cannot tell a zombie
  }
  for (const name of names) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // `pid (comm) state ppid pgrp …`: comm may hold spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') return true;
  }
  return false;
}

/** Resolves once no member of the group runs, or after `timeoutMs` (false then). */
export async function groupGone(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let wait = POLL_FIRST_MS;
  while (groupRuns(pgid)) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await sleep(Math.min(wait, left));
    wait = Math.min(wait * 2, POLL_MAX_MS);
  }
  return true;
}
