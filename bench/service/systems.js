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

const peer = {
  server: (dir) => bare.server(path.join(dir, 'bench.sock')),
  client: (dir) => bare.client(path.join(dir, 'bench.sock')),
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
      async call(payload) {
        const res = await echo.post('/echo', payload);
        if (res.status !== 200) throw new Error(`echo answered ${res.status}: ${JSON.stringify(res.body)}`);
        return res.body;
      },
      async close() {
        client.close();
      },
    };
  },
};

const byName = { peer, service };

export function getSystem(name) {
  const sys = byName[name];
  if (!sys) throw new Error(`unknown system ${name} (known: ${SYSTEMS.join(', ')})`);
  return sys;
}
