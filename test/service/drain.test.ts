/**
 * Draining without failed calls: the goaway handshake between a service that shuts down and its
 * clients, under continuous load, in-process and as real processes stopped with SIGTERM.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WarrenError } from '../../src/errors.js';
import type { Peer } from '../../src/peer/peer.js';
import { connectUnix, listenUnix, type PeerServer } from '../../src/peer/transports/socket.js';
import { readToken } from '../../src/service/auth.js';
import { decodeReply, encodeCall } from '../../src/service/call-format.js';
import { ServiceClient, type ServiceHandle } from '../../src/service/client.js';
import { defineService } from '../../src/service/define.js';
import { listInstances } from '../../src/service/discovery.js';
import { SERVICE_METHODS, type ServiceServer, serveService } from '../../src/service/server.js';
import { useProcesses } from '../support/processes.js';
import { until } from '../support/until.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/service-drain.mjs', import.meta.url));
/** Long enough that a close reaching it shows the clients did not close their connections themselves. */
const LONG_GRACE_MS = 10_000;

const { socketPath, startServer } = useProcesses();
const dirs: string[] = [];
const servers: ServiceServer<unknown>[] = [];
const listeners: PeerServer[] = [];
const clients: ServiceClient[] = [];
const peers: Peer[] = [];
const loads: Load[] = [];

afterEach(async () => {
  for (const load of loads.splice(0)) await load.stop();
  for (const client of clients.splice(0)) client.close();
  for (const peer of peers.splice(0)) peer.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(listeners.splice(0).map((l) => l.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function socketDir(): string {
  const base = mkdtempSync(join(tmpdir(), 'warren-test-'));
  dirs.push(base);
  return join(base, 'run');
}

/** A 'load' instance: POST /work answers on a later turn with its instance; POST /hold waits for `gate`. */
async function start(dir: string, instance: number, options: { gate?: Promise<void>; closeGraceMs?: number } = {}) {
  const closed: number[] = [];
  const definition = defineService({
    name: 'load',
    dependencies: () => ({ instance }),
    onClose: (deps) => void closed.push(deps.instance),
    routes: {
      'POST /work': async ({ body }, { deps }) => {
        await new Promise((resolve) => setImmediate(resolve));
        return { instance: deps.instance, echo: body };
      },
      'POST /hold': async (_input, { deps }) => {
        await options.gate;
        return { instance: deps.instance };
      },
    },
  });
  const server = await serveService(definition, { socketDir: dir, instance, closeGraceMs: options.closeGraceMs ?? LONG_GRACE_MS });
  servers.push(server as ServiceServer<unknown>);
  return Object.assign(server, { closed });
}

function client(dir: string): ServiceClient {
  const c = new ServiceClient({ socketDir: dir, timeout: 20_000 });
  clients.push(c);
  return c;
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open: () => void = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/**
 * Two gated instances, a client with a connection to each, and one POST /hold held on one of
 * them (`busy`); `idle` is the other. `held.open()` lets the held calls finish.
 */
async function oneCallHeld() {
  const dir = socketDir();
  const held = gate();
  const a = await start(dir, 0, { gate: held.promise });
  const b = await start(dir, 1, { gate: held.promise });
  const svc = client(dir).service('load');
  await svc.ready;
  await until(() => svc.stats().length === 2 && svc.stats().every((s) => s.connections === 1), 'a connection to each instance');
  const holding = svc.post('/hold', {});
  await until(() => a.inFlight + b.inFlight === 1, 'the held call to arrive');
  const [busy, idle] = a.inFlight === 1 ? [a, b] : [b, a];
  return { svc, held, holding, busy, idle };
}

interface Load {
  /** Answers per instance (the key the answer names). */
  readonly answered: Map<number, number>;
  /** Calls that were rejected or answered with anything but 200. */
  readonly failures: unknown[];
  total(): number;
  count(key: number): number;
  /** Stops the callers and resolves once each has finished its last call. */
  stop(): Promise<void>;
}

/**
 * `callers` concurrent loops of POST calls through one handle until stop() (or a deadline, so that
 * a broken test cannot leave them running). `keyOf` says which instance answered.
 */
function startLoad(svc: ServiceHandle, keyOf: (body: unknown) => number, callers = 64, deadlineMs = 60_000): Load {
  const answered = new Map<number, number>();
  const failures: unknown[] = [];
  let stopped = false;
  const deadline = Date.now() + deadlineMs;
  const loop = async (caller: number) => {
    for (let n = 0; !stopped && Date.now() < deadline; n++) {
      try {
        const res = await svc.post('/work', { caller, n });
        if (res.status !== 200) failures.push(res);
        else {
          const key = keyOf(res.body);
          answered.set(key, (answered.get(key) ?? 0) + 1);
        }
      } catch (error) {
        failures.push(error);
      }
    }
  };
  const running = Promise.all(Array.from({ length: callers }, (_, i) => loop(i)));
  const load: Load = {
    answered,
    failures,
    total: () => [...answered.values()].reduce((a, b) => a + b, 0),
    count: (key) => answered.get(key) ?? 0,
    stop: async () => {
      stopped = true;
      await running;
    },
  };
  loads.push(load);
  return load;
}

const byInstance = (body: unknown) => (body as { instance: number }).instance;
const byPid = (body: unknown) => (body as { pid: number }).pid;

/** Waits until `key` has answered `more` calls beyond what it had, failing early on any failed call. */
async function answersFrom(load: Load, key: number, more: number, what: string): Promise<void> {
  const from = load.count(key);
  await until(() => load.failures.length > 0 || load.count(key) >= from + more, what);
  expect(load.failures).toEqual([]);
}

describe('PeerServer.stopListening', () => {
  it('removes the socket file and refuses new connections at once, keeps the connected peers, and resolves once they end', async () => {
    const path = join(socketDir(), '..', 'echo.sock');
    const listener = await listenUnix(path, (peer) => peer.onRequest('echo', (p) => p));
    listeners.push(listener);
    const peer = await connectUnix(path);
    peers.push(peer);
    let ended = false;
    const stopped = listener.stopListening().then(() => {
      ended = true;
    });
    expect(existsSync(path)).toBe(false);
    await expect(connectUnix(path, { connectTimeout: 1_000 })).rejects.toMatchObject({ code: 'WARREN_PEER_CLOSED' });
    expect(await peer.request('echo', 'still here')).toBe('still here');
    expect(ended).toBe(false);
    expect(listener.stopListening()).toBe(listener.stopListening());
    await peer.close();
    await stopped;
    await listener.close();
  });
});

describe('draining with warren.goaway', () => {
  it('drain() removes the socket at once: discovery no longer lists the instance and a new client does not find it', async () => {
    const dir = socketDir();
    const server = await start(dir, 0);
    const old = client(dir).service('load');
    expect((await old.post('/work', {})).status).toBe(200);
    await server.drain();
    expect(existsSync(server.path)).toBe(false);
    expect(await listInstances(dir, 'load')).toEqual([]);
    const error = await client(dir)
      .service('load')
      .post('/work', {})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WarrenError);
    expect((error as WarrenError).code).toBe('WARREN_UNKNOWN_SERVICE');
    // The client that was connected closes its connection after goaway, and its watcher drops the instance.
    await until(() => old.stats().length === 0, 'the old client to drop the instance');
    await expect(old.post('/work', {})).rejects.toMatchObject({ code: 'WARREN_UNKNOWN_SERVICE' });
    await server.close();
    expect(server.closed).toEqual([0]);
  });

  it('a connection told to go away takes no new calls, finishes the calls it carries, and is closed by the client', async () => {
    const { svc, held, holding, busy: old, idle: other } = await oneCallHeld();

    const drained = old.drain();
    await until(() => svc.stats().find((s) => s.instance === old.instance)?.draining === true, 'the client to get goaway');
    // The held call keeps its connection open; new calls, POSTs included, go to the other instance.
    expect(svc.stats().find((s) => s.instance === old.instance)?.connections).toBe(1);
    for (let i = 0; i < 8; i++) {
      const res = await svc.post('/work', { i });
      expect(res.status).toBe(200);
      expect(byInstance(res.body)).toBe(other.instance);
    }
    held.open();
    const res = await holding;
    expect(res.status).toBe(200);
    expect(byInstance(res.body)).toBe(old.instance);
    await drained;
    // The client closes the connection itself once its last call is answered: no grace period needed.
    const started = performance.now();
    await old.close();
    expect(performance.now() - started).toBeLessThan(LONG_GRACE_MS);
    expect(old.closed).toEqual([old.instance]);
    await until(() => svc.stats().every((s) => s.instance !== old.instance), 'the watcher to drop the old instance');
  });

  it('a call written before goaway arrived is answered 503 WARREN_DRAINING and sent to another instance, POSTs included', async () => {
    // One call held on one instance: the next call goes to the other, which has fewer in flight.
    const { svc, held, holding, busy, idle: next } = await oneCallHeld();
    // In the same turn: the call is written before the client can read the goaway.
    const drained = next.drain();
    expect(svc.stats().find((s) => s.instance === next.instance)?.draining).toBe(false);
    const res = await svc.post('/work', { written: 'before goaway' });
    expect(res.status).toBe(200);
    expect(byInstance(res.body)).toBe(busy.instance);
    expect(next.metrics.snapshot().service.requests).toBe(0);
    await drained;
    held.open();
    expect((await holding).status).toBe(200);
  });

  it('a client that ignores goaway does not keep close() waiting past closeGraceMs', async () => {
    const dir = socketDir();
    const server = await start(dir, 0, { closeGraceMs: 300 });
    const peer = await connectUnix(server.path, { timeout: 5_000 });
    peers.push(peer);
    await peer.request(SERVICE_METHODS.hello, { token: await readToken(dir) });
    let goaways = 0;
    peer.onNotify(SERVICE_METHODS.goaway, () => {
      goaways++;
    });
    const closedByServer = new Promise<void>((resolve) => peer.on('close', () => resolve()));

    const started = performance.now();
    let closed = false;
    const closing = server.close().then(() => {
      closed = true;
    });
    await until(() => goaways === 1, 'the goaway notification');
    // Calls that still arrive are refused with 503, not run.
    const refused = decodeReply(await peer.request(SERVICE_METHODS.call, encodeCall('POST', '/work', {})));
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ error: { code: 'WARREN_DRAINING' } });
    expect(closed).toBe(false);
    await closing;
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(300 + 5_000);
    await closedByServer;
    expect(server.closed).toEqual([0]);
  });

  it('under continuous load from 64 callers, closing an instance while another is up fails no call, POSTs included', async () => {
    const dir = socketDir();
    let live = [await start(dir, 0), await start(dir, 1)];
    let next = 2;
    const svc = client(dir).service('load');
    await svc.ready;
    const load = startLoad(svc, byInstance);
    const closeMs: number[] = [];
    for (let round = 0; round < 4; round++) {
      const [old, stay] = live as [(typeof live)[0], (typeof live)[0]];
      await answersFrom(load, old.instance, 100, `instance ${old.instance} to take calls`);
      await answersFrom(load, stay.instance, 100, `instance ${stay.instance} to take calls`);

      const started = performance.now();
      await old.close();
      closeMs.push(performance.now() - started);
      // Its clients closed their connections themselves, long before the grace period.
      expect(closeMs.at(-1)).toBeLessThan(LONG_GRACE_MS);
      const answeredByOld = load.count(old.instance);
      await answersFrom(load, stay.instance, 500, `calls to go to instance ${stay.instance}`);
      expect(load.count(old.instance)).toBe(answeredByOld);

      // A new instance (a new number) comes up and takes its share; the next round closes the other one.
      const fresh = await start(dir, next++);
      await answersFrom(load, fresh.instance, 100, `the new instance ${fresh.instance} to take calls`);
      live = [stay, fresh];
    }
    await load.stop();
    expect(load.failures).toEqual([]);
    expect(load.total()).toBeGreaterThan(4 * 800);
    console.info(`drain under load (in-process): ${load.total()} calls, closes took ${closeMs.map((ms) => Math.round(ms)).join(', ')} ms`);
  });

  it('under continuous load, an instance process stopped with SIGTERM (runService) fails no call', async () => {
    const dir = join(socketPath('unused'), '..', 'run');
    const startProcess = async (instance: number) => {
      const { proc } = await startServer(FIXTURE, [dir, String(instance), String(LONG_GRACE_MS)]);
      const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
      return { proc, pid: proc.pid as number, exited };
    };
    let live = [await startProcess(0), await startProcess(1)];
    let next = 2;
    const svc = client(dir).service('load');
    await svc.ready;
    const load = startLoad(svc, byPid);
    const stopMs: number[] = [];
    for (let round = 0; round < 2; round++) {
      const [old, stay] = live as [(typeof live)[0], (typeof live)[0]];
      await answersFrom(load, old.pid, 100, `process ${old.pid} to take calls`);
      await answersFrom(load, stay.pid, 100, `process ${stay.pid} to take calls`);

      const started = performance.now();
      old.proc.kill('SIGTERM');
      expect(await old.exited).toBe(0);
      stopMs.push(performance.now() - started);
      expect(stopMs.at(-1)).toBeLessThan(LONG_GRACE_MS);
      const answeredByOld = load.count(old.pid);
      await answersFrom(load, stay.pid, 500, `calls to go to process ${stay.pid}`);
      expect(load.count(old.pid)).toBe(answeredByOld);

      const fresh = await startProcess(next++);
      await answersFrom(load, fresh.pid, 100, `the new process ${fresh.pid} to take calls`);
      live = [stay, fresh];
    }
    await load.stop();
    expect(load.failures).toEqual([]);
    console.info(
      `drain under load (processes): ${load.total()} calls, SIGTERM to exit took ${stopMs.map((ms) => Math.round(ms)).join(', ')} ms`,
    );
  });
});
