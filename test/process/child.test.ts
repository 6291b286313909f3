/**
 * spawnPeer()/stdioPeer() with real child processes: requests, notifications and progress both
 * ways, console.log output on the child's stdout as junk, stderr handling, exit and kill.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { PeerClosedError, RemoteError, WarrenError } from '../../src/errors.js';
import type { Peer } from '../../src/peer/peer.js';
import { type ChildPeer, type SpawnPeerOptions, spawnPeer } from '../../src/peer/transports/child.js';
import { isGone } from '../support/processes.js';

const CHILD = fileURLToPath(new URL('../fixtures/child-peer.mjs', import.meta.url));
const STDERR_INHERIT = fileURLToPath(new URL('../fixtures/stderr-inherit.mjs', import.meta.url));
/** What child-peer.mjs prints before its first frame. */
const BEFORE_TEXT = 'Warren child says hello before any frame\n';

const started = new Set<ChildPeer>();

async function startChild(args: string[] = [], options: SpawnPeerOptions = {}): Promise<ChildPeer> {
  const child = await spawnPeer(process.execPath, [CHILD, ...args], { stderr: 'pipe', ...options });
  started.add(child);
  return child;
}

/** Resolves with the params of the next notification `method` that passes `accept`. */
function nextNotify<T = unknown>(peer: Peer, method: string, accept: (params: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    const off = peer.onNotify(method, (params) => {
      if (!accept(params as T)) return undefined;
      off();
      resolve(params as T);
      return undefined;
    });
  });
}

afterEach(async () => {
  for (const child of started) {
    if (child.child.exitCode === null && child.child.signalCode === null) child.kill('SIGKILL');
    await child.exited;
    expect(isGone(child.pid as number)).toBe(true);
  }
  started.clear();
});

describe('spawnPeer and stdioPeer', () => {
  it('answers requests both ways, also when the child calls the parent while answering it', async () => {
    const child = await startChild();
    const asked: unknown[] = [];
    child.onRequest('parentAdd', (params) => {
      asked.push(params);
      const { a, b } = params as { a: number; b: number };
      return a + b;
    });

    await expect(child.request('pid')).resolves.toBe(child.pid);
    await expect(child.request('echo', { text: 'héllo', list: [1, 2, 3] })).resolves.toEqual({ echo: { text: 'héllo', list: [1, 2, 3] } });
    await expect(child.request('callParent', { a: 20, b: 22 })).resolves.toEqual({ sum: 42, pid: child.pid });
    expect(asked).toEqual([{ a: 20, b: 22 }]);

    // Many at once, both kinds interleaved, all correlated to the right caller.
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? child.request('echo', i) : child.request('callParent', { a: i, b: 1 }))),
    );
    results.forEach((result, i) => {
      expect(result).toEqual(i % 2 === 0 ? { echo: i } : { sum: i + 1, pid: child.pid });
    });
  });

  it('carries a coded error thrown by the child handler back to the parent', async () => {
    const child = await startChild();
    const error = await child.request('fail').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect(error).toMatchObject({ code: 'APP_BROKEN', message: 'the child refuses', data: { why: 'test' } });
    // No stack crosses the wire unless debug is on.
    expect((error as RemoteError).remoteStack).toBeUndefined();
  });

  it('sends notifications both ways', async () => {
    const child = await startChild();
    const ready = nextNotify<{ pid: number }>(child, 'ready');
    await expect(ready).resolves.toEqual({ pid: child.pid });

    const pong = nextNotify<{ got: unknown; pid: number }>(child, 'pong');
    child.notify('ping', { n: 7 });
    await expect(pong).resolves.toEqual({ got: { n: 7 }, pid: child.pid });
  });

  it('delivers progress both ways before the response', async () => {
    const child = await startChild();
    const seen: unknown[] = [];
    const result = await child.request('count', { n: 4 }, { onProgress: (value) => seen.push(value) });
    expect(result).toEqual({ counted: 4 });
    expect(seen).toEqual([1, 2, 3, 4].map((step) => ({ step, of: 4 })));

    // The child asks the parent, whose handler reports progress to the child.
    child.onRequest('parentCount', (params, ctx) => {
      const { n } = params as { n: number };
      for (let i = 1; i <= n; i++) ctx.progress(`parent ${i}`);
      return 'parent done';
    });
    await expect(child.request('parentProgress', { n: 3 })).resolves.toEqual({
      result: 'parent done',
      seen: ['parent 1', 'parent 2', 'parent 3'],
    });
  });

  it("reports the child's stdout text before, between and after frames as junk, byte for byte, without breaking requests", async () => {
    const child = await startChild();
    const junk: Buffer[] = [];
    child.on('junk', (bytes) => junk.push(Buffer.from(bytes)));
    const junkText = () => Buffer.concat(junk).toString('utf8');

    await nextNotify(child, 'ready');
    expect(junkText()).toBe(BEFORE_TEXT);

    // Text that a frame decoder could trip on: the magic's first byte 'W', multi-byte UTF-8,
    // a NUL, and a line as long as several headers.
    const lines = ['WWW Warren W', 'ünïcödé ✓ 🐇', 'nul:\u0000:end', 'x'.repeat(200), 'W'];
    const progress: unknown[] = [];
    const chatty = child.request('chatty', { lines }, { onProgress: (v) => progress.push(v) });
    const echoes = Promise.all(Array.from({ length: 20 }, (_, i) => child.request('echo', { i })));
    await expect(chatty).resolves.toBe('chatted');
    await expect(echoes).resolves.toEqual(Array.from({ length: 20 }, (_, i) => ({ echo: { i } })));
    expect(progress).toEqual([1, 2, 3, 4, 5]);
    const between = lines.map((line) => `${line}\n`).join('');
    expect(junkText()).toBe(BEFORE_TEXT + between);

    const after = 'after the last frame: W\n';
    const afterSeen = new Promise<void>((resolve) => {
      const off = child.on('junk', () => {
        if (junkText().endsWith(after)) {
          off();
          resolve();
        }
      });
    });
    await expect(child.request('logAfter', { text: after })).resolves.toBe('will log');
    await afterSeen;
    expect(junkText()).toBe(BEFORE_TEXT + between + after);
    expect(child.stats.junkBytes).toBe(Buffer.byteLength(BEFORE_TEXT + between + after));
    // The stream is still in sync after all that.
    await expect(child.request('pid')).resolves.toBe(child.pid);
  });

  it("captures the child's stderr with stderr: 'pipe'", async () => {
    const child = await startChild([], { stderr: 'pipe' });
    const stderr = child.child.stderr;
    expect(stderr).not.toBeNull();
    const text = 'warning from the child: ✓\n';
    const arrived = new Promise<void>((resolve) => {
      const check = () => {
        if (child.stderrTail().includes(text)) {
          stderr?.off('data', check);
          resolve();
        }
      };
      stderr?.on('data', check);
    });
    await expect(child.request('stderr', { text })).resolves.toBe(true);
    await arrived;
    expect(child.stderrTail()).toBe(text);
    // stderr is not stdout: nothing of it was taken for junk.
    expect(child.stats.junkBytes).toBe(Buffer.byteLength(BEFORE_TEXT));
  });

  it("passes the child's stderr through with stderr: 'inherit'", async () => {
    // A middle process owns a ChildPeer with stderr 'inherit'; its own stderr is captured here.
    const text = `inherited line ${process.pid}\n`;
    const middle = spawn(process.execPath, [STDERR_INHERIT, text], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    middle.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
    });
    middle.stderr.setEncoding('utf8').on('data', (s: string) => {
      err += s;
    });
    const [code] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => middle.once('close', (c, s) => resolve([c, s])));
    expect(code).toBe(0);
    expect(err).toBe(text);
    const report = JSON.parse(out) as { answered: boolean; tail: string; stderrPipe: boolean; pid: number; exit: unknown };
    expect(report).toMatchObject({ answered: true, tail: '', stderrPipe: false, exit: { code: 0, signal: null } });
    expect(isGone(report.pid)).toBe(true);
  });

  it('closes the peer when the child exits normally, and exited gives code 0', async () => {
    const child = await startChild();
    await nextNotify(child, 'ready');
    const closed = new Promise<Error | undefined>((resolve) => child.on('close', resolve));
    child.notify('quit');
    await expect(closed).resolves.toBeUndefined();
    await expect(child.exited).resolves.toEqual({ code: 0, signal: null });
    expect(child.closed).toBe(true);
    const late = await child.request('pid').catch((e: unknown) => e);
    expect(late).toBeInstanceOf(PeerClosedError);
    expect(late).toMatchObject({ code: 'WARREN_PEER_CLOSED' });
  });

  it('rejects pending requests when the child exits with a code, and exited gives that code', async () => {
    const child = await startChild();
    const hung = nextNotify(child, 'started');
    const pending = child.request('hang', { tag: 'a' }).catch((e: unknown) => e);
    await hung;
    child.notify('exit', { code: 7 });
    const error = await pending;
    expect(error).toBeInstanceOf(PeerClosedError);
    expect((error as PeerClosedError).code).toBe('WARREN_PEER_CLOSED');
    expect((error as PeerClosedError).message).toMatch(/closed/);
    await expect(child.exited).resolves.toEqual({ code: 7, signal: null });
    expect(child.closed).toBe(true);
  });

  it('kills the child when the peer is destroyed, and exited gives the signal', async () => {
    // --keep-alive: the child would outlive the end of its stdin, so only the kill can stop it.
    const child = await startChild(['--keep-alive']);
    await nextNotify(child, 'ready');
    const pid = child.pid as number;
    const hung = nextNotify(child, 'started');
    const pending = child.request('hang', { tag: 'b' }).catch((e: unknown) => e);
    await hung;
    child.destroy();
    const error = await pending;
    expect(error).toBeInstanceOf(PeerClosedError);
    expect((error as PeerClosedError).code).toBe('WARREN_PEER_CLOSED');
    await expect(child.exited).resolves.toEqual({ code: null, signal: 'SIGTERM' });
    expect(isGone(pid)).toBe(true);
  });

  it('gives the signal in exited when the child is killed from outside', async () => {
    const child = await startChild(['--keep-alive']);
    await nextNotify(child, 'ready');
    const closed = new Promise<Error | undefined>((resolve) => child.on('close', resolve));
    process.kill(child.pid as number, 'SIGKILL');
    await expect(child.exited).resolves.toEqual({ code: null, signal: 'SIGKILL' });
    await closed;
    expect(child.closed).toBe(true);
  });

  it('rejects with WARREN_SPAWN when the command does not exist', async () => {
    const command = '/nonexistent/warren-no-such-command';
    const error = await spawnPeer(command, ['x']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WarrenError);
    expect((error as WarrenError).code).toBe('WARREN_SPAWN');
    expect((error as WarrenError).message).toContain(command);
    expect((error as WarrenError).message).toContain('ENOENT');
    expect(((error as WarrenError).cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });
});
