// The two systems of the service benchmark. Both get the same fresh socket directory:
//   peer    — the bare Warren peer, exactly bench/ipc's warren-msgpack (one connection,
//             peer.request('echo', payload)), on <dir>/bench.sock;
//   service — serveService() of an 'echo' service whose `POST /echo` returns its body, called
//             through the pooled ServiceClient: client.service('echo').post('/echo', payload).
// Each module-level entry matches bench/ipc/systems: server(dir) -> close, client(dir) -> { call, close }.

import path from 'node:path';
import { makeWarrenSystem } from '../ipc/systems/warren.js';

export const SYSTEMS = ['peer', 'service'];

const bare = makeWarrenSystem('msgpack');

async function loadService() {
  try {
    return await import('warren/service');
  } catch (err) {
    if (err && (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED')) {
      const e = new Error(`warren/service is not available (${err.code}: ${err.message}); run \`npm run build\` first`);
      e.skip = true;
      throw e;
    }
    throw err;
  }
}

// BENCH_PEER_LOADS_SERVICE=1 makes the peer's processes load warren/service too (without using
// it). Loading a module graph of that size (find-my-way, or zod alone) changes how V8 collects
// garbage under 64 calls in flight: the process stays in incremental marking and promotes what
// is in flight at each scavenge, which costs a bare peer ~30% of its throughput with 4 KiB
// payloads. With the option both systems pay that, and the ratio shows the service layer's own cost.
const sameModules = () => (process.env.BENCH_PEER_LOADS_SERVICE === '1' ? loadService() : undefined);

const peer = {
  async server(dir) {
    await sameModules();
    return bare.server(path.join(dir, 'bench.sock'));
  },
  async client(dir) {
    await sameModules();
    return bare.client(path.join(dir, 'bench.sock'));
  },
};

const service = {
  async server(dir) {
    const { defineService, serveService } = await loadService();
    const echo = defineService({ name: 'echo', routes: { 'POST /echo': ({ body }) => body } });
    const server = await serveService(echo, { socketDir: dir, instance: 0 });
    return () => server.close();
  },
  async client(dir) {
    const { ServiceClient } = await loadService();
    const client = new ServiceClient({ socketDir: dir });
    const echo = client.service('echo');
    return {
      // No async function of its own: the peer's call hands back peer.request()'s promise as
      // it is, so this one only adds what a service call needs (the status checked, the body taken).
      call: (payload) => echo.post('/echo', payload).then(bodyOf),
      async close() {
        client.close();
      },
    };
  },
};

/** The body of a 200 answer; anything else fails the run. */
function bodyOf(res) {
  if (res.status !== 200) throw new Error(`echo answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

const byName = { peer, service };

export function getSystem(name) {
  const sys = byName[name];
  if (!sys) throw new Error(`unknown system ${name} (known: ${SYSTEMS.join(', ')})`);
  return sys;
}
