/**
 * Interop with vscode-jsonrpc, the JSON-RPC library of VS Code's language clients and servers.
 * A Warren peer on the 'jsonrpc' framing and a vscode-jsonrpc connection serve the same
 * contract (test/fixtures/interop-contract.mjs) and call each other, in both directions, over:
 *   - a real Unix socket (both ends in this process),
 *   - child stdio with a vscode-jsonrpc child and a Warren spawnPeer() parent,
 *   - child stdio with a Warren stdioPeer() child and a vscode-jsonrpc parent.
 * Where the caller is the child, the test asks it to make the call ('relay') and report.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createMessageConnection,
  type MessageConnection,
  ResponseError,
  SocketMessageReader,
  SocketMessageWriter,
  StreamMessageReader,
  StreamMessageWriter,
} from 'vscode-jsonrpc/node';
import { CancelledError, RemoteError } from '../../src/errors.js';
import type { Peer } from '../../src/peer/peer.js';
import { spawnPeer } from '../../src/peer/transports/child.js';
import { listenUnix } from '../../src/peer/transports/socket.js';

const CONTRACT_URL = new URL('../fixtures/interop-contract.mjs', import.meta.url).href;
const VSCODE_CHILD = fileURLToPath(new URL('../fixtures/vscode-child.mjs', import.meta.url));
const WARREN_CHILD = fileURLToPath(new URL('../fixtures/warren-jsonrpc-child.mjs', import.meta.url));

type Side = 'warren' | 'vscode';

interface DescribedError {
  type: string;
  warren: boolean;
  code: string | number;
  rpcCode?: number;
  message: string;
  data?: unknown;
}

interface Outcome {
  ok: boolean;
  value?: unknown;
  error?: DescribedError;
  /** The error object itself, when the caller runs in this process. */
  raw?: unknown;
  progress: unknown[];
  observed?: Record<string, unknown>;
}

interface CallOptions {
  progress?: boolean;
  cancelTag?: string;
}

/** The shape of interop-contract.mjs (a plain .mjs module shared with the child fixtures). */
interface Contract {
  CODED: { message: string; data: unknown; warrenCode: string; rpcCode: number };
  STANDARD_MESSAGE: string;
  serveWarren(peer: Peer, by?: string): EventEmitter;
  callWarren(peer: Peer, bus: EventEmitter, method: string, params: unknown, opts?: CallOptions): Promise<Outcome>;
  helloWarren(peer: Peer, bus: EventEmitter, text: string): Promise<unknown>;
  serveVscode(connection: MessageConnection, by?: string): EventEmitter;
  callVscode(connection: MessageConnection, bus: EventEmitter, method: string, params: unknown, opts?: CallOptions): Promise<Outcome>;
  helloVscode(connection: MessageConnection, bus: EventEmitter, text: string): Promise<unknown>;
}

/** Two connected ends, one Warren and one vscode-jsonrpc, wherever each runs. */
interface Setup {
  call(caller: Side, method: string, params: unknown, opts?: CallOptions): Promise<Outcome>;
  hello(caller: Side, text: string): Promise<unknown>;
  /** Which sides run in this process (their errors can be checked with instanceof). */
  local: Record<Side, boolean>;
  close(): Promise<void>;
}

let contract: Contract;

beforeAll(async () => {
  contract = (await import(CONTRACT_URL)) as Contract;
});

function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function unixSocketSetup(): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'warren-test-'));
  const path = join(dir, 'jsonrpc.sock');
  let warrenBus: EventEmitter | undefined;
  let accept: (peer: Peer) => void = () => {};
  const accepted = new Promise<Peer>((resolve) => {
    accept = resolve;
  });
  const server = await listenUnix(
    path,
    (peer) => {
      warrenBus = contract.serveWarren(peer);
      accept(peer);
    },
    { framing: 'jsonrpc' },
  );
  const socket = createConnection(path);
  await once(socket, 'connect');
  const connection = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
  const vscodeBus = contract.serveVscode(connection);
  connection.listen();
  const warren = await accepted;
  const wBus = warrenBus as EventEmitter;
  return {
    call: (caller, method, params, opts) =>
      caller === 'warren'
        ? contract.callWarren(warren, wBus, method, params, opts)
        : contract.callVscode(connection, vscodeBus, method, params, opts),
    hello: (caller, text) =>
      caller === 'warren' ? contract.helloWarren(warren, wBus, text) : contract.helloVscode(connection, vscodeBus, text),
    local: { warren: true, vscode: true },
    close: async () => {
      connection.dispose();
      socket.destroy();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A vscode-jsonrpc child on stdio; the Warren end is this process's spawnPeer(). */
async function vscodeChildSetup(): Promise<Setup> {
  const child = await spawnPeer(process.execPath, [VSCODE_CHILD], { framing: 'jsonrpc', stderr: 'pipe' });
  const bus = contract.serveWarren(child);
  const ready = once(bus, 'ready');
  try {
    const [hello] = (await ready) as [{ pid: number }];
    expect(hello.pid).toBe(child.pid);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    call: (caller, method, params, opts) =>
      caller === 'warren'
        ? contract.callWarren(child, bus, method, params, opts)
        : child.request<Outcome>('relay', { method, params, opts }),
    hello: (caller, text) => (caller === 'warren' ? contract.helloWarren(child, bus, text) : child.request('relayHello', { text })),
    local: { warren: true, vscode: false },
    close: async () => {
      await child.close();
      const exit = await child.exited;
      expect(child.stderrTail()).toBe('');
      // The vscode child exits by itself when its stdin ends.
      expect(exit).toEqual({ code: 0, signal: null });
      expect(isGone(child.pid as number)).toBe(true);
    },
  };
}

/** A Warren stdioPeer child on the jsonrpc framing; the vscode-jsonrpc end is this process. */
async function warrenChildSetup(): Promise<Setup> {
  const proc: ChildProcessWithoutNullStreams = spawn(process.execPath, [WARREN_CHILD], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => proc.once('exit', (c, s) => resolve([c, s])));
  const connection = createMessageConnection(new StreamMessageReader(proc.stdout), new StreamMessageWriter(proc.stdin));
  const bus = contract.serveVscode(connection);
  const ready = once(bus, 'ready');
  connection.listen();
  try {
    const [hello] = (await ready) as [{ pid: number }];
    expect(hello.pid).toBe(proc.pid);
  } catch (error) {
    proc.kill('SIGKILL');
    throw error;
  }
  return {
    call: (caller, method, params, opts) =>
      caller === 'vscode'
        ? contract.callVscode(connection, bus, method, params, opts)
        : connection.sendRequest<Outcome>('relay', { method, params, opts }),
    hello: (caller, text) =>
      caller === 'vscode' ? contract.helloVscode(connection, bus, text) : connection.sendRequest('relayHello', { text }),
    local: { warren: false, vscode: true },
    close: async () => {
      connection.dispose();
      // The Warren child closes its peer when stdin ends and exits by itself.
      proc.stdin.end();
      await expect(exited).resolves.toEqual([0, null]);
      expect(stderr).toBe('');
      expect(isGone(proc.pid as number)).toBe(true);
    },
  };
}

const transports: [string, () => Promise<Setup>][] = [
  ['a Unix socket', unixSocketSetup],
  ['stdio of a vscode-jsonrpc child (Warren spawnPeer parent)', vscodeChildSetup],
  ['stdio of a Warren stdioPeer child (vscode-jsonrpc parent)', warrenChildSetup],
];

const directions: [Side, Side][] = [
  ['warren', 'vscode'],
  ['vscode', 'warren'],
];

describe.each(transports)('Warren and vscode-jsonrpc over %s', (_name, makeSetup) => {
  let setup: Setup | undefined;

  beforeEach(async () => {
    setup = await makeSetup();
  });

  afterEach(async () => {
    const s = setup;
    setup = undefined;
    await s?.close();
  });

  const use = (): Setup => setup as Setup;

  describe.each(directions)('%s calling %s', (caller, handler) => {
    it('requests get their results, also many at once', async () => {
      await expect(use().call(caller, 'add', { a: 2, b: 3 })).resolves.toEqual({ ok: true, value: { sum: 5, by: handler }, progress: [] });
      const outcomes = await Promise.all(Array.from({ length: 25 }, (_, i) => use().call(caller, 'add', { a: i, b: 1000 })));
      outcomes.forEach((outcome, i) => {
        expect(outcome).toEqual({ ok: true, value: { sum: i + 1000, by: handler }, progress: [] });
      });
    });

    it('notifications arrive, and the notification sent back arrives too', async () => {
      await expect(use().hello(caller, 'hi there')).resolves.toEqual({ text: 'HI THERE', by: handler });
    });

    it('a coded error keeps its code, message and data', async () => {
      const { CODED } = contract;
      const outcome = await use().call(caller, 'fail', { kind: 'coded' });
      expect(outcome.ok).toBe(false);
      if (caller === 'warren') {
        // vscode ResponseError(4001, message, data) -> RemoteError with rpcCode 4001.
        expect(outcome.error).toEqual({
          type: 'RemoteError',
          warren: true,
          code: 'WARREN_REMOTE_ERROR',
          rpcCode: CODED.rpcCode,
          message: CODED.message,
          data: CODED.data,
        });
        if (use().local.warren) expect(outcome.raw).toBeInstanceOf(RemoteError);
      } else {
        // WarrenError('APP_DENIED') -> ResponseError -32000 with the Warren code in data.
        expect(outcome.error).toEqual({
          type: 'ResponseError',
          warren: false,
          code: -32000,
          message: CODED.message,
          data: { warrenCode: CODED.warrenCode, data: CODED.data },
        });
        if (use().local.vscode) expect(outcome.raw).toBeInstanceOf(ResponseError);
      }
    });

    it('an invalid-params error maps to -32602 and WARREN_INVALID_ARGUMENT', async () => {
      const outcome = await use().call(caller, 'fail', { kind: 'standard' });
      expect(outcome.ok).toBe(false);
      if (caller === 'warren') {
        expect(outcome.error).toEqual({
          type: 'RemoteError',
          warren: true,
          code: 'WARREN_INVALID_ARGUMENT',
          rpcCode: -32602,
          message: contract.STANDARD_MESSAGE,
        });
      } else {
        expect(outcome.error).toEqual({ type: 'ResponseError', warren: false, code: -32602, message: contract.STANDARD_MESSAGE });
      }
    });

    it('an unknown method is -32601 on the wire and WARREN_NO_HANDLER in Warren', async () => {
      const outcome = await use().call(caller, 'no/such/method', { x: 1 });
      expect(outcome.ok).toBe(false);
      if (caller === 'warren') {
        expect(outcome.error).toEqual({
          type: 'RemoteError',
          warren: true,
          code: 'WARREN_NO_HANDLER',
          rpcCode: -32601,
          message: 'Unhandled method no/such/method',
        });
        if (use().local.warren) expect(outcome.raw).toBeInstanceOf(RemoteError);
      } else {
        expect(outcome.error).toEqual({
          type: 'ResponseError',
          warren: false,
          code: -32601,
          message: "no handler for method 'no/such/method'",
        });
      }
    });

    it('cancelling the caller cancels the handler, and the connection goes on', async () => {
      const tag = `cancel-${caller}`;
      const outcome = await use().call(caller, 'wait', { tag }, { cancelTag: tag });
      expect(outcome.ok).toBe(false);
      if (caller === 'warren') {
        // The AbortSignal rejects the Warren promise; vscode's token fires.
        expect(outcome.error).toEqual({
          type: 'CancelledError',
          warren: true,
          code: 'WARREN_CANCELLED',
          message: "request 'wait' cancelled",
        });
        if (use().local.warren) expect(outcome.raw).toBeInstanceOf(CancelledError);
        expect(outcome.observed).toEqual({ tag, by: 'vscode', cancelled: true });
      } else {
        // The CancellationTokenSource aborts ctx.signal; Warren answers with -32800 as LSP expects.
        expect(outcome.error).toEqual({ type: 'ResponseError', warren: false, code: -32800, message: "request 'wait' cancelled" });
        expect(outcome.observed).toEqual({ tag, by: 'warren', aborted: true, reason: 'WARREN_CANCELLED' });
      }
      await expect(use().call(caller, 'add', { a: 1, b: 1 })).resolves.toEqual({ ok: true, value: { sum: 2, by: handler }, progress: [] });
    });

    it('progress reaches the caller through $/progress with the workDoneToken', async () => {
      const outcome = await use().call(caller, 'count', { n: 3 }, { progress: true });
      expect(outcome).toEqual({
        ok: true,
        // A Warren caller with onProgress adds workDoneToken = its request id (a number); the
        // vscode caller passes its own string token.
        value: { counted: 3, by: handler, token: caller === 'warren' ? expect.any(Number) : expect.stringMatching(/^work-done-\d+-\d+$/) },
        progress: [
          { kind: 'report', message: '1/3', percentage: 33 },
          { kind: 'report', message: '2/3', percentage: 67 },
          { kind: 'report', message: '3/3', percentage: 100 },
        ],
      });
    });
  });
});
