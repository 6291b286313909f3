// CPU time used by a system's processes (the ones it started and their children, e.g. nginx's
// worker), read from /proc: user + system ticks. On a busy machine a system's req/s depends on the
// share of the CPUs it gets; its CPU time per request much less so. Linux only: elsewhere null.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let tick = 0;
function ticksPerSecond() {
  if (tick === 0) {
    try {
      tick = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      tick = 100;
    }
  }
  return tick;
}

/** The fields of /proc/<pid>/stat after the command name, or undefined when the process is gone. */
function statFields(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** `pids` and all their descendants now living. */
export function withDescendants(pids) {
  if (!fs.existsSync('/proc/self/stat')) return null;
  const childrenOf = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const fields = statFields(name);
    if (!fields) continue;
    const ppid = Number(fields[1]);
    if (!childrenOf.has(ppid)) childrenOf.set(ppid, []);
    childrenOf.get(ppid).push(Number(name));
  }
  const all = new Set();
  const queue = [...pids];
  while (queue.length > 0) {
    const pid = queue.shift();
    if (all.has(pid)) continue;
    all.add(pid);
    queue.push(...(childrenOf.get(pid) ?? []));
  }
  return [...all];
}

/** Seconds of CPU (user + system) used so far by `pids` together; null without /proc. */
export function cpuSeconds(pids) {
  if (pids === null) return null;
  let ticks = 0;
  for (const pid of pids) {
    const fields = statFields(pid);
    // utime and stime: fields 14 and 15 of stat, 11 and 12 after the name.
    if (fields) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / ticksPerSecond();
}
