/**
 * Shared helpers for the peer tests: event-driven waiting (never fixed sleeps), gates that a
 * test opens by hand, error assertions and cleanup of every peer, socket and directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import { isWarrenError } from '../../src/errors.js';
import type { Peer, PeerOptions } from '../../src/peer/peer.js';
import { memoryPair } from '../../src/peer/transports/memory.js';
import type { PeerServer } from '../../src/peer/transports/socket.js';

export { until } from '../support/until.js';

/** Lets one turn of the event loop pass (I/O callbacks and nextTicks of the current turn run). */
export function turn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

export interface Gate<T = void> {
  readonly promise: Promise<T>;
  readonly opened: boolean;
  open(value: T): void;
}

/** A promise the test resolves by hand: handlers wait on it instead of sleeping. */
export function gate<T = void>(): Gate<T> {
  let open!: (value: T) => void;
  let opened = false;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return {
    promise,
    get opened() {
      return opened;
    },
    open(value: T) {
      opened = true;
      open(value);
    },
  };
}

export interface Outcome<T> {
  status: 'pending' | 'fulfilled' | 'rejected';
  value?: T;
  error?: unknown;
}

/** Records how a promise settles without leaving a rejection unhandled. */
export function track<T>(promise: Promise<T>): Outcome<T> {
  const outcome: Outcome<T> = { status: 'pending' };
  promise.then(
    (value) => {
      outcome.status = 'fulfilled';
      outcome.value = value;
    },
    (error: unknown) => {
      outcome.status = 'rejected';
      outcome.error = error;
    },
  );
  return outcome;
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** Asserts a Warren error's class, code and message content; returns it for further checks. */
export function expectWarrenError(error: unknown, cls: ErrorClass, code: string, message?: string | RegExp): Error & { code: string } {
  expect(error).toBeInstanceOf(cls);
  expect(isWarrenError(error)).toBe(true);
  const e = error as Error & { code: string };
  expect(e.code).toBe(code);
  if (message !== undefined) expect(e.message).toMatch(message);
  return e;
}

/** Awaits a promise that must reject, then checks the error like expectWarrenError. */
export async function expectRejection(
  promise: Promise<unknown>,
  cls: ErrorClass,
  code: string,
  message?: string | RegExp,
): Promise<Error & { code: string; data?: unknown }> {
  const error = await promise.then(
    (value) => {
      throw new Error(`expected a rejection with ${code}, got the value ${String(value)}`);
    },
    (e: unknown) => e,
  );
  return expectWarrenError(error, cls, code, message);
}

/** Asserts that `fn` throws synchronously a Warren error of this class and code. */
export function expectThrows(fn: () => unknown, cls: ErrorClass, code: string, message?: string | RegExp): Error & { code: string } {
  let thrown: unknown;
  let threw = false;
  try {
    fn();
  } catch (error) {
    threw = true;
    thrown = error;
  }
  expect(threw).toBe(true);
  return expectWarrenError(thrown, cls, code, message);
}

/**
 * A round trip through both peers: when it resolves, every frame `caller` wrote before it has
 * been read and handled by `callee`, and the answers to them have been read by `caller`
 * (frames stay in order on one stream).
 */
export async function roundTrip(caller: Peer, callee: Peer): Promise<void> {
  const off = callee.onRequest('test.barrier', () => 'barrier');
  try {
    expect(await caller.request('test.barrier', undefined, { timeout: 0 })).toBe('barrier');
  } finally {
    off();
  }
}

export { recordingSink } from '../support/recording-sink.js';

/**
 * Registers an afterEach that tears down everything the test made, last made first: peers
 * are destroyed, servers closed, sockets destroyed, temporary directories removed.
 */
export function useCleanup() {
  const tasks: (() => unknown)[] = [];
  afterEach(async () => {
    const list = tasks.splice(0).reverse();
    for (const task of list) await task();
  });
  const api = {
    defer(task: () => unknown): void {
      tasks.push(task);
    },
    peer<P extends Peer>(peer: P): P {
      tasks.push(() => peer.destroy());
      return peer;
    },
    pair(options: PeerOptions = {}, otherOptions: PeerOptions = options): [Peer, Peer] {
      const [a, b] = memoryPair(options, otherOptions);
      api.peer(a);
      api.peer(b);
      return [a, b];
    },
    socket<S extends Socket>(socket: S): S {
      tasks.push(() => socket.destroy());
      return socket;
    },
    server(server: Server): Server {
      tasks.push(
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
          }),
      );
      return server;
    },
    peerServer<S extends PeerServer>(server: S): S {
      tasks.push(() => {
        for (const peer of server.peers) peer.destroy();
        return server.close();
      });
      return server;
    },
    /** A fresh 0700 directory under the OS temp dir, removed after the test. */
    tmpDir(): string {
      const dir = mkdtempSync(join(tmpdir(), 'warren-test-'));
      tasks.push(() => rmSync(dir, { recursive: true, force: true }));
      return dir;
    },
  };
  return api;
}
