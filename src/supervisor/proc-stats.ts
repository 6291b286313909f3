/**
 * RSS and CPU time of a process measured from outside, from /proc: the same figures for a Warren
 * service, an Express app or a shell script, and true even when the process is too busy to send
 * its own reports. The process's descendants (what a shell or `npm start` started) are summed in
 * through /proc/<pid>/task/<pid>/children. Returns null where there is no /proc (not Linux): the
 * supervisor then shows what the process reports itself, if anything.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of utime and stime in /proc/<pid>/stat: USER_HZ, 100 on every Linux port Node runs on. */
const TICKS_PER_SECOND = 100;
/** Descendants summed at most, so that a fork bomb cannot make a sample take long. */
const MAX_PROCESSES = 256;

export interface ProcSample {
  /** Resident set size of the process and its descendants, in bytes. */
  rssBytes: number;
  /** User plus system CPU time of the process and its descendants, in µs. */
  cpuMicros: number;
  /** Wall clock when read (ms since the epoch). */
  at: number;
}

/** A sample of `pid` and its descendants; null when /proc has no such process. */
export function sampleProcess(pid: number): ProcSample | null {
  const own = readOne(pid);
  if (own === null) return null;
  let { rssBytes, cpuMicros } = own;
  const queue = children(pid);
  const seen = new Set<number>([pid]);
  while (queue.length > 0 && seen.size < MAX_PROCESSES) {
    const next = queue.shift() as number;
    if (seen.has(next)) continue;
    seen.add(next);
    const one = readOne(next);
    if (one === null) continue;
    rssBytes += one.rssBytes;
    cpuMicros += one.cpuMicros;
    queue.push(...children(next));
  }
  return { rssBytes, cpuMicros, at: Date.now() };
}

/** CPU use between two samples, in percent of one core. */
export function cpuPercent(previous: ProcSample, current: ProcSample): number | null {
  const ms = current.at - previous.at;
  if (ms <= 0) return null;
  return Math.max(0, ((current.cpuMicros - previous.cpuMicros) / 1000 / ms) * 100);
}

function readOne(pid: number): { rssBytes: number; cpuMicros: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses; utime and stime are
    // fields 14 and 15, the 12th and 13th after the closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    // `VmRSS:	   51234 kB`; absent for a zombie, whose memory is gone.
    const rss = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    return { rssBytes: rss ? Number(rss[1]) * 1024 : 0, cpuMicros: (ticks / TICKS_PER_SECOND) * 1e6 };
  } catch {
    return null;
  }
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(' ')
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}
