/**
 * `ready: { listen: … }`: a process counts as online once its TCP port or Unix socket accepts a
 * connection. During a reload the predecessor may already listen there (a shared port, or a
 * socket path the successor takes over), so an accepted connection alone proves nothing about
 * the new process: on Linux the listening socket must also be one of the new process group's
 * open descriptors (/proc/net/{tcp,tcp6,unix} name the socket's inode, /proc/<pid>/fd the
 * process's). Without /proc, an accepted connection is enough.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { basename, isAbsolute, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReadyMode } from './config.js';

type ListenMode = Extract<ReadyMode, { kind: 'listen' }>;

/** How often the listener is looked for: from 10 ms, doubling, at most every 100 ms. */
const POLL_FIRST_MS = 10;
const POLL_MAX_MS = 100;
/** A connection attempt that takes longer than this counts as not accepted (the next poll tries again). */
const CONNECT_TIMEOUT_MS = 1000;

/** `port 3000 on 127.0.0.1` or `/run/app.sock`, for messages. */
export function listenLabel(mode: ListenMode): string {
  return 'path' in mode ? mode.path : `port ${mode.port} on ${mode.host}`;
}

/**
 * Resolves true once the listener accepts a connection and (where /proc tells) belongs to the
 * process group `pgid`; false once `gaveUp()` is true (the process exited or timed out).
 */
export async function waitForListener(mode: ListenMode, pgid: number | null, gaveUp: () => boolean): Promise<boolean> {
  let wait = POLL_FIRST_MS;
  while (!gaveUp()) {
    if ((pgid === null || ownsListener(mode, pgid) !== false) && (await accepts(mode))) return !gaveUp();
    await sleep(wait);
    wait = Math.min(wait * 2, POLL_MAX_MS);
  }
  return false;
}

/** Whether a connection to the listener is accepted (it is closed at once). */
export function accepts(mode: ListenMode): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = 'path' in mode ? connect(mode.path) : connect(mode.port, mode.host);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), CONNECT_TIMEOUT_MS);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Whether a member of the process group `pgid` holds a listening socket for `mode`; null when
 * /proc cannot tell (not Linux).
 */
export function ownsListener(mode: ListenMode, pgid: number): boolean | null {
  const listeners = listeningInodes(mode);
  if (listeners === null) return null;
  if (listeners.size === 0) return false;
  for (const pid of groupMembers(pgid)) {
    const inodes = ownInodes(listeners, mode, pid);
    if (inodes.size === 0) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      // `socket:[12345]`
      if (target.startsWith('socket:[') && inodes.has(target.slice(8, -1))) return true;
    }
  }
  return false;
}

/**
 * Of the listening sockets found, those that can be `mode`'s for process `pid`: /proc/net/unix
 * shows the path as it was bound, so a relative one is resolved against the process's directory.
 */
function ownInodes(listeners: Map<string, string>, mode: ListenMode, pid: number): Set<string> {
  if (!('path' in mode)) return new Set(listeners.keys());
  let cwd: string | null = null;
  const inodes = new Set<string>();
  for (const [inode, path] of listeners) {
    if (isAbsolute(path)) {
      if (path === mode.path) inodes.add(inode);
      continue;
    }
    try {
      cwd ??= readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      continue;
    }
    if (resolve(cwd, path) === mode.path) inodes.add(inode);
  }
  return inodes;
}

/** The sockets listening for `mode` (inode → path as bound), from /proc/net; null without /proc. */
function listeningInodes(mode: ListenMode): Map<string, string> | null {
  const inodes = new Map<string, string>();
  if ('path' in mode) {
    const table = readTable('/proc/net/unix');
    if (table === null) return null;
    // `Num RefCount Protocol Flags Type St Inode Path`; flag 0x10000 (__SO_ACCEPTCON) marks a
    // listener. The path is as bound: relative when the process bound a relative one.
    const name = basename(mode.path);
    for (const fields of table) {
      const path = fields[7];
      if (path === undefined || basename(path) !== name || !fields[6]) continue;
      if ((Number.parseInt(fields[3] ?? '0', 16) & 0x10000) !== 0) inodes.set(fields[6], path);
    }
    return inodes;
  }
  const v4 = readTable('/proc/net/tcp');
  const v6 = readTable('/proc/net/tcp6');
  if (v4 === null && v6 === null) return null;
  // `sl local_address rem_address st … inode`: the address is `HEX_IP:HEX_PORT`, state 0A is LISTEN.
  for (const fields of [...(v4 ?? []), ...(v6 ?? [])]) {
    const local = fields[1] ?? '';
    const portHex = local.slice(local.lastIndexOf(':') + 1);
    if (fields[3] === '0A' && Number.parseInt(portHex, 16) === mode.port && fields[9]) inodes.set(fields[9], local);
  }
  return inodes;
}

function readTable(file: string): string[][] | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  return text
    .split('\n')
    .slice(1)
    .filter((line) => line.trim() !== '')
    .map((line) => line.trim().split(/\s+/));
}

/** The pids of the process group `pgid` (its leader first). */
function groupMembers(pgid: number): number[] {
  const members = [pgid];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return members;
  }
  for (const name of names) {
    const code = name.charCodeAt(0);
    if (code < 48 || code > 57 || Number(name) === pgid) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // `pid (comm) state ppid pgrp …`: comm may hold spaces and parentheses.
      const pgrp = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2];
      if (Number(pgrp) === pgid) members.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return members;
}
