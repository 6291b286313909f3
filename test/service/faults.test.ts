/** Service instances as real processes: one killed with SIGKILL while calls are in flight. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Peer } from '../../src/peer/peer.js';
import { connectUnix } from '../../src/peer/transports/socket.js';
import { readToken } from '../../src/service/auth.js';
import { decodeReply } from '../../src/service/call-format.js';
import { ServiceClient } from '../../src/service/client.js';
import type { ServiceResponse } from '../../src/service/define.js';
import { SERVICE_METHODS } from '../../src/service/server.js';
import { isGone, useProcesses } from '../support/processes.js';
import { until } from '../support/until.js';

const INSTANCE = fileURLToPath(new URL('../fixtures/service-instance.mjs', import.meta.url));
const { socketPath, startServer } = useProcesses();
const clients: ServiceClient[] = [];
const peers: Peer[] = [];

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
  for (const peer of peers.splice(0)) peer.destroy();
});

/** A direct, authenticated connection to one instance, to look at it from the side. */
async function direct(dir: string, instance: number): Promise<(method: string, url: string) => Promise<ServiceResponse>> {
  const peer = await connectUnix(join(dir, `holder.${instance}.sock`));
  peers.push(peer);
  await peer.request(SERVICE_METHODS.hello, { token: await readToken(dir) });
  return (method, url) => peer.request(SERVICE_METHODS.call, { method, url }).then(decodeReply);
}

describe('a service instance killed with SIGKILL', () => {
  it('fails its in-flight non-idempotent calls at once, retries idempotent ones on the other instance, and sends later calls there', async () => {
    const dir = join(socketPath('unused'), '..', 'run');
    const a = await startServer(INSTANCE, [dir, '0']);
    const b = await startServer(INSTANCE, [dir, '1']);
    const pidA = a.proc.pid as number;
    const pidB = b.proc.pid as number;
    const client = new ServiceClient({ socketDir: dir, timeout: 20_000 });
    clients.push(client);
    const holder = client.service('holder');
    await holder.get('/pid');
    const onA = await direct(dir, 0);
    const onB = await direct(dir, 1);

    // Least in flight first: these alternate between the two instances.
    const settled: (Error | ServiceResponse)[] = [];
    const posts = Array.from({ length: 4 }, () =>
      holder.post('/hold').then(
        (r) => r,
        (e: unknown) => e as Error,
      ),
    );
    // Resolves when the first two posts have settled: those that were on A, once it is killed.
    const firstTwo = new Promise<void>((resolve) => {
      for (const post of posts) {
        void post.then((outcome) => {
          if (settled.push(outcome) === 2) resolve();
        });
      }
    });
    const gets = Array.from({ length: 4 }, () => holder.get('/hold'));
    const held = async (call: typeof onA) => ((await call('GET', '/held')).body as { held: number }).held;
    await until(async () => (await held(onA)) === 4 && (await held(onB)) === 4, 'both instances to hold 4 calls');

    a.proc.kill('SIGKILL');
    // Two posts and two gets are on A. Its posts fail with WARREN_PEER_CLOSED as soon as the
    // connection drops (B's two are held until released); its gets go to B.
    await firstTwo;
    for (const outcome of settled) {
      expect(outcome).toBeInstanceOf(Error);
      expect((outcome as { code?: string }).code).toBe('WARREN_PEER_CLOSED');
    }
    await until(async () => (await held(onB)) === 6, "A's two gets to be retried on B");
    // The process is gone once Node has reaped it (until then kill(pid, 0) still finds the zombie).
    if (a.proc.exitCode === null && a.proc.signalCode === null) await new Promise((resolve) => a.proc.once('exit', resolve));
    expect(isGone(pidA)).toBe(true);

    // B answers everything it holds: its own two posts and all four gets.
    await onB('POST', '/release');
    const answered = await Promise.all([...posts, ...gets]);
    expect(settled.length).toBe(4);
    const fromB = answered.filter((res) => !(res instanceof Error));
    expect(fromB).toHaveLength(6);
    for (const res of fromB) expect((res as ServiceResponse).body).toEqual({ pid: pidB });
    // Later calls all go to B.
    for (let i = 0; i < 4; i++) expect((await holder.get('/pid')).body).toEqual({ pid: pidB });
  });
});
