/** ServiceInstance, the class behind serveService: destroy() drops everything at once; start() checks its options. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectUnix } from '../../src/peer/transports/socket.js';
import { readToken } from '../../src/service/auth.js';
import { encodeCall } from '../../src/service/call-format.js';
import { defineService } from '../../src/service/define.js';
import { SERVICE_METHODS, ServiceInstance, serveService } from '../../src/service/server.js';

const bases: string[] = [];
afterEach(() => {
  for (const base of bases.splice(0)) rmSync(base, { recursive: true, force: true });
});
function socketDir(): string {
  const base = mkdtempSync(join(tmpdir(), 'warren-test-'));
  bases.push(base);
  return join(base, 'run');
}

let closed = 0;
const never = defineService({
  name: 'never',
  routes: { 'GET /hang': () => new Promise(() => {}) },
  onClose: () => {
    closed++;
  },
});

describe('ServiceInstance', () => {
  it('destroy() stops listening and drops connections with calls in flight at once, without onClose', async () => {
    const dir = socketDir();
    const server = await serveService(never, { socketDir: dir });
    expect(server).toBeInstanceOf(ServiceInstance);
    const peer = await connectUnix(server.path);
    await peer.request(SERVICE_METHODS.hello, { token: await readToken(dir) });
    const hanging = peer.request(SERVICE_METHODS.call, encodeCall('GET', '/hang')).catch((e: unknown) => e);
    await new Promise<void>((resolve) => {
      const check = () => (server.inFlight === 1 ? resolve() : setImmediate(check));
      check();
    });
    const before = closed;
    server.destroy();
    expect(await hanging).toMatchObject({ code: 'WARREN_PEER_CLOSED' });
    expect(existsSync(server.path)).toBe(false);
    expect(closed).toBe(before);
  });

  it('refuses bad options before it touches the socket directory', async () => {
    const dir = socketDir();
    for (const bad of [
      { helloTimeoutMs: -1 },
      { maxConnections: 0 },
      { maxPreHelloFrameBytes: 1.5 },
      { listenBacklog: Number.NaN },
      { closeGraceMs: -5 },
    ]) {
      await expect(ServiceInstance.start(never, { socketDir: dir, ...bad })).rejects.toMatchObject({ code: 'WARREN_INVALID_ARGUMENT' });
    }
    expect(existsSync(dir)).toBe(false);
  });
});
