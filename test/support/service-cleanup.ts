/**
 * What a service test starts, closed after each test: clients first (so no call is left
 * waiting), then servers, then their socket directories.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { ServiceClient } from '../../src/service/client.js';
import type { ServiceDefinition } from '../../src/service/define.js';
import { type ServiceServer, serveService } from '../../src/service/server.js';

export function serviceCleanup() {
  const started = { dirs: [] as string[], servers: [] as ServiceServer<unknown>[], clients: [] as ServiceClient[] };
  afterEach(async () => {
    for (const client of started.clients.splice(0)) client.close();
    await Promise.all(started.servers.splice(0).map((s) => s.close()));
    for (const dir of started.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  /** Serves `definition` in a fresh socket directory and returns a client of it. */
  async function serveAndConnect<D>(definition: ServiceDefinition<D>): Promise<ServiceClient> {
    const base = mkdtempSync(join(tmpdir(), 'warren-test-'));
    started.dirs.push(base);
    const dir = join(base, 'run');
    started.servers.push((await serveService(definition, { socketDir: dir })) as ServiceServer<unknown>);
    const client = new ServiceClient({ socketDir: dir, timeout: 10_000 });
    started.clients.push(client);
    return client;
  }
  return { ...started, serveAndConnect };
}
