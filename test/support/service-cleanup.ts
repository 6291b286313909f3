/**
 * What a service test starts, closed after each test: clients first (so no call is left
 * waiting), then servers, then their socket directories.
 */
import { rmSync } from 'node:fs';
import { afterEach } from 'vitest';
import type { ServiceClient } from '../../src/service/client.js';
import type { ServiceServer } from '../../src/service/server.js';

export function serviceCleanup() {
  const started = { dirs: [] as string[], servers: [] as ServiceServer<unknown>[], clients: [] as ServiceClient[] };
  afterEach(async () => {
    for (const client of started.clients.splice(0)) client.close();
    await Promise.all(started.servers.splice(0).map((s) => s.close()));
    for (const dir of started.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return started;
}
