/**
 * A burst of connects to one instance overflows its accept queue (EAGAIN on a Unix socket):
 * the client tries again with a short backoff inside its connect deadline instead of failing
 * the call. The instance here has a deliberately tiny accept queue (listenBacklog: 4) so that a
 * bounded burst overflows it; every caller, each with its own client, must succeed.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ServiceClient } from '../../src/service/client.js';
import { useProcesses } from '../support/processes.js';

const LIMITS = fileURLToPath(new URL('../fixtures/service-limits.mjs', import.meta.url));
const CALLERS = 300;
const { socketPath, startServer } = useProcesses();
const clients: ServiceClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

describe('a burst of connects to one instance', () => {
  it(`${CALLERS} callers, each with its own client, all get their answer`, async () => {
    const dir = join(socketPath('unused'), '..', 'run');
    const { line } = await startServer(LIMITS, [dir, JSON.stringify({ listenBacklog: 4 })]);
    const pid = Number(line.split(' ')[1]);
    for (let i = 0; i < CALLERS; i++) clients.push(new ServiceClient({ socketDir: dir, connectTimeout: 10_000, timeout: 20_000 }));
    // Discovery first, so that the connects (not the directory scans) come in one burst.
    await Promise.all(clients.map((client) => client.service('limited').ready));
    const outcomes = await Promise.all(
      clients.map((client) =>
        client
          .service('limited')
          .get('/pid')
          .then(
            (response) => response,
            (error: unknown) => error as Error,
          ),
      ),
    );
    const failed = outcomes.filter((outcome) => outcome instanceof Error);
    expect(failed.map(String).slice(0, 3)).toEqual([]);
    for (const outcome of outcomes) expect(outcome).toMatchObject({ status: 200, body: { pid } });
  }, 60_000);
});
