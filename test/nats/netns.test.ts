/**
 * Two hosts that share NATS, each its own network namespace (made and removed by the test: see
 * twoHosts in ./support.ts), joined by one veth pair: host A (10.231.<n>.1) runs the nats-server
 * and a supervisor with `orders`, host B (10.231.<n>.2) a supervisor with `remote`, which lives
 * on B only. A caller on A (test/fixtures/netns-caller.mjs, a ServiceClient in a process of host
 * A, driven line by line so that the test decides when each call starts) and `warren call` on A
 * reach `remote` over NATS; B's instance is SIGKILLed while A keeps calling, and NATS is
 * restarted with calls in flight.
 *
 * Where namespaces cannot be made (not root, no `ip`, `ip netns add` refused), or with
 * WARREN_TEST_NO_NETNS=1, the same runs on this one host (two socket directories, NATS on
 * 127.0.0.1): the test's name and a warning say so.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureSocketDir } from '../../src/service/socket-dir.js';
import { CLI, type CliResult, useCli } from '../support/cli.js';
import { isGone } from '../support/processes.js';
import { until } from '../support/until.js';
import {
  addressesOf,
  freePort,
  type NatsServerProcess,
  natsServerOn,
  netnsUnavailableReason,
  type TestHost,
  type TwoHosts,
  twoHosts,
} from './support.js';

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
const SERVICE = join(FIXTURES, 'nats-service.mjs');
const GATED_SERVICE = join(FIXTURES, 'gated-service.mjs');
const CALLER = join(FIXTURES, 'netns-caller.mjs');

const unavailable = netnsUnavailableReason();
if (unavailable !== undefined)
  console.warn(`test/nats/netns.test.ts: ${unavailable}; running the ONE-HOST FALLBACK (no network namespaces, hosts not isolated)`);
const mode = unavailable === undefined ? 'two network namespaces joined by a veth pair' : 'ONE-HOST FALLBACK without network namespaces';

const { run: cli, workDir } = useCli(60_000);
const processes = new Set<ChildProcess>();
let hosts: TwoHosts | undefined;

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.once('exit', () => resolve()));
}

async function killAll(): Promise<void> {
  for (const proc of processes) {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited(proc);
  }
  processes.clear();
}

beforeAll(async () => {
  hosts = await twoHosts(unavailable === undefined);
});
afterEach(killAll, 60_000);
afterAll(async () => {
  await killAll();
  await hosts?.remove();
}, 60_000);

/** This process's environment without the WARREN_* settings, as useCli gives the CLI. */
function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('WARREN_')) env[key] = value;
  return { ...env, ...extra };
}

/** Runs `warren ...args` on `host` to its end (killed and failed after 60 s). */
async function cliOn(host: TestHost, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const [command, argv] = host.argv(process.execPath, [CLI, ...args]);
  const child = spawn(command, argv, { cwd: options.cwd, env: cleanEnv(options.env ?? {}), stdio: ['ignore', 'pipe', 'pipe'] });
  processes.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const result = await new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  clearTimeout(timer);
  if (result.signal === 'SIGKILL')
    throw new Error(`warren ${args.join(' ')} on host ${host.label} did not end within 60 s\n${stdout}${stderr}`);
  return result;
}

type CallResult = { ok: true; status: number; body: unknown } | { ok: false; code: string; message: string };

interface Caller {
  call(service: string, method: string, path: string, timeoutMs?: number): Promise<CallResult>;
  /** How many instances of `service` answer `$SRV.PING` on NATS, seen from the caller's host. */
  ping(service: string): Promise<number>;
}

/** The caller process on `host`: a ServiceClient over NATS with `socketDir` (the host's own) and `natsUrl`. */
async function callerOn(host: TestHost, socketDir: string, natsUrl: string): Promise<Caller> {
  const [command, argv] = host.argv(process.execPath, [CALLER]);
  const child = spawn(command, argv, {
    env: cleanEnv({ WARREN_SOCKET_DIR: socketDir, NATS_URL: natsUrl }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  processes.add(child);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const pending = new Map<number, (answer: Record<string, unknown>) => void>();
  let ready: () => void = () => {};
  const isReady = new Promise<void>((resolve, reject) => {
    ready = resolve;
    child.once('exit', (code) => reject(new Error(`the caller on host ${host.label} exited with ${code}: ${stderr}`)));
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    const answer = JSON.parse(line) as Record<string, unknown>;
    if (answer.ready === true) ready();
    else pending.get(answer.id as number)?.(answer);
  });
  await isReady;
  let next = 0;
  const send = (command: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const id = ++next;
    return new Promise((resolve) => {
      pending.set(id, resolve);
      child.stdin.write(`${JSON.stringify({ id, ...command })}\n`);
    });
  };
  return {
    call: async (service, method, path, timeoutMs = 15_000) =>
      (await send({ op: 'call', service, method, path, timeoutMs })) as unknown as CallResult,
    ping: async (service) => (await send({ op: 'ping', service })).count as number,
  };
}

function project(dir: string, service: Record<string, unknown>, natsUrl: string): void {
  writeFileSync(join(dir, 'warren.config.json'), JSON.stringify({ socketDir: 's', services: [service] }));
  writeFileSync(join(dir, '.env'), `WARREN_TRANSPORT=nats\nNATS_URL=${natsUrl}\n`);
}

interface SlotStatus {
  pid: number | null;
  state: string;
  restarts: number;
}

async function slotOf(socketDir: string): Promise<SlotStatus> {
  const status = await cli(['status', '--json', '--socket-dir', socketDir]);
  const parsed = JSON.parse(status.stdout) as { services: { instances: SlotStatus[] }[] };
  return parsed.services[0]?.instances[0] as SlotStatus;
}

function pidOf(result: CallResult): number {
  if (!result.ok) throw new Error(`expected an answer, got ${result.code}: ${result.message}`);
  expect(result.status).toBe(200);
  return (result.body as { pid: number }).pid;
}

describe(`two hosts sharing NATS (${mode})`, () => {
  it('A calls a service that lives only on B, survives the kill -9 of its instance and a NATS restart', { timeout: 300_000 }, async () => {
    const { a, b, isolated } = hosts as TwoHosts;
    if (isolated) {
      // Each host has its loopback and its end of the veth, nothing else.
      expect(addressesOf(a)).toEqual(['127.0.0.1', a.address].sort());
      expect(addressesOf(b)).toEqual(['127.0.0.1', b.address].sort());
    }
    const nats: NatsServerProcess = await natsServerOn(a, await freePort(), processes);
    const hostA = workDir('wn-');
    const hostB = workDir('wn-');
    const gate = join(hostB.dir, 'gate', 'closed');
    mkdirSync(join(hostB.dir, 'gate'));
    project(hostA.dir, { name: 'orders', entry: SERVICE, env: { TEST_SERVICE_NAME: 'orders' } }, nats.url);
    project(
      hostB.dir,
      {
        name: 'remote',
        entry: GATED_SERVICE,
        env: { TEST_SERVICE_NAME: 'remote', TEST_GATE: gate },
        // The restarted instance waits at its gate for as long as the test keeps it closed.
        readyTimeoutMs: 120_000,
        restart: { minDelayMs: 0, maxDelayMs: 1000 },
      },
      nats.url,
    );
    const upA = await cliOn(a, ['up', '--detach'], { cwd: hostA.dir });
    expect(upA.code, upA.stderr).toBe(0);
    // Host B gets host A's token before its services start, as an operator copies it.
    await ensureSocketDir(hostB.socketDir);
    copyFileSync(join(hostA.socketDir, '.auth_token'), join(hostB.socketDir, '.auth_token'));
    const upB = await cliOn(b, ['up', '--detach'], { cwd: hostB.dir });
    expect(upB.code, upB.stderr).toBe(0);

    const caller = await callerOn(a, hostA.socketDir, nats.url);
    await until(async () => (await caller.ping('remote')) === 1 && (await caller.ping('orders')) === 1, 'orders and remote on NATS', {
      timeoutMs: 60_000,
    });

    // 1. From A to the service that lives on B only: the caller's ServiceClient and `warren call`.
    const firstPid = pidOf(await caller.call('remote', 'GET', '/who'));
    expect(firstPid).toBe((await slotOf(hostB.socketDir)).pid);
    expect(pidOf(await caller.call('orders', 'GET', '/who'))).toBe((await slotOf(hostA.socketDir)).pid);
    const env = { WARREN_TRANSPORT: 'nats', NATS_URL: nats.url, WARREN_SOCKET_DIR: hostA.socketDir };
    const viaCli = await cliOn(a, ['call', 'remote', 'GET', '/who', '--json'], { env });
    expect(viaCli.code, viaCli.stderr).toBe(0);
    expect((JSON.parse(viaCli.stdout) as { body: { pid: number } }).body.pid).toBe(firstPid);

    // 2. B's only instance is SIGKILLed while A keeps calling. Its successor waits at the gate,
    // so for as long as the test keeps the gate closed no instance of `remote` exists anywhere.
    writeFileSync(gate, '');
    process.kill(firstPid, 'SIGKILL');
    await until(() => isGone(firstPid), 'the killed instance to be gone');
    // A call NATS gave to the dead subscription before the server saw the connection close gets
    // no answer (WARREN_TIMEOUT at its deadline, protocol.md §15.3); once it has, NATS says there
    // is no responder (WARREN_UNKNOWN_SERVICE) at once. Nothing else, and never an answer.
    const whileMissing: CallResult[] = [];
    await until(
      async () => {
        const result = await caller.call('remote', 'GET', '/who', 10_000);
        whileMissing.push(result);
        return !result.ok && result.code === 'WARREN_UNKNOWN_SERVICE';
      },
      'a call that finds no instance',
      { timeoutMs: 120_000 },
    );
    for (const result of whileMissing) expect(result.ok ? 'an answer' : result.code).toMatch(/^WARREN_(TIMEOUT|UNKNOWN_SERVICE)$/);
    // The supervisor has restarted the slot: its new process waits at the gate (it says so), and
    // calls still fail.
    const waiting = `${gate}.waiting`;
    const gatedPid = await until(
      () => existsSync(waiting) && Number(readFileSync(waiting, 'utf8')),
      'the new process to wait at the gate',
      {
        timeoutMs: 60_000,
      },
    );
    expect(gatedPid).not.toBe(firstPid);
    const restarted = await slotOf(hostB.socketDir);
    expect(restarted).toMatchObject({ pid: gatedPid, restarts: 1, state: 'starting' });
    for (let i = 0; i < 3; i++) {
      const gated = await caller.call('remote', 'GET', '/who');
      expect(gated.ok ? 'an answer' : gated.code).toBe('WARREN_UNKNOWN_SERVICE');
      if (!gated.ok) expect(gated.message).toContain("service 'remote'");
    }

    // The gate opens: the restarted instance serves, and A's calls succeed again.
    rmSync(gate);
    const back = await until(
      async () => {
        const result = await caller.call('remote', 'GET', '/who');
        if (!result.ok) expect(result.code).toBe('WARREN_UNKNOWN_SERVICE');
        return result.ok ? result : undefined;
      },
      'a call to succeed after the restart',
      { timeoutMs: 120_000 },
    );
    const secondPid = pidOf(back);
    expect(secondPid).toBe(gatedPid);
    for (let i = 0; i < 5; i++) expect(pidOf(await caller.call('remote', 'GET', '/who'))).toBe(secondPid);

    // 3. NATS restarted while three calls run on B: they fail with WARREN_NATS_UNAVAILABLE (not
    // WARREN_TIMEOUT: well within their deadline of 120 s), and later calls succeed.
    const inFlight = [1, 2, 3].map(() => caller.call('remote', 'GET', '/wait', 120_000));
    await until(async () => {
      const counts = await caller.call('remote', 'GET', '/counts');
      return counts.ok && (counts.body as { waiting: number }).waiting === 3;
    }, 'three calls running on B');
    await nats.kill();
    const failed = await Promise.all(inFlight);
    for (const result of failed) {
      expect(result.ok ? 'an answer' : result.code).toBe('WARREN_NATS_UNAVAILABLE');
      if (!result.ok) expect(result.message).toContain(nats.url);
    }
    const whileDown = await caller.call('remote', 'GET', '/who');
    expect(whileDown.ok ? 'an answer' : whileDown.code).toBe('WARREN_NATS_UNAVAILABLE');

    await nats.start();
    // Both hosts reconnect by themselves; B's subscriptions come back with its connection.
    const afterRestart = await until(
      async () => {
        const result = await caller.call('remote', 'GET', '/who');
        if (!result.ok) expect(result.code).toMatch(/^WARREN_(NATS_UNAVAILABLE|UNKNOWN_SERVICE)$/);
        return result.ok ? result : undefined;
      },
      'a call to succeed after NATS is back',
      { timeoutMs: 120_000 },
    );
    expect(pidOf(afterRestart)).toBe(secondPid);
    const viaCliAgain = await cliOn(a, ['call', 'remote', 'GET', '/who', '--json'], { env });
    expect(viaCliAgain.code, viaCliAgain.stderr).toBe(0);
    expect((JSON.parse(viaCliAgain.stdout) as { body: { pid: number } }).body.pid).toBe(secondPid);
  });
});
