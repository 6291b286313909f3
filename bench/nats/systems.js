// The systems of the NATS benchmark, each an echo of the payload (`POST /echo` returning its body,
// or Moleculer's `echo.echo` action returning its param), the server in one process and the caller
// in another:
//   warren-unix    — the service called through ServiceClient over its Unix socket (bench/service's 'service');
//   warren-nats    — the same service with transport 'nats', called through ServiceClient from a
//                    socket directory of its own (it shares only the token), so every call goes
//                    over NATS request/reply;
//   moleculer-nats — Moleculer 0.14 with its NATS transporter (request/response between two
//                    brokers, its default JSON serializer), on the same NATS server.
// NATS: BENCH_NATS_URL, else NATS_URL, else nats://127.0.0.1:4222. Moleculer and its `nats`
// client are not dependencies of Warren (moleculer 0.14's optional peer range stops at pino 9,
// Warren uses pino 10): install them into a folder of their own and name it in
// BENCH_MOLECULER_DIR (`npm install --prefix /tmp/molec moleculer@0.14 nats@2`); without it the
// system is skipped, and says why.

import { copyFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

export const SYSTEMS = ['warren-unix', 'warren-nats', 'moleculer-nats'];

const NATS_URL = process.env.BENCH_NATS_URL || process.env.NATS_URL || 'nats://127.0.0.1:4222';

async function loadService() {
  try {
    return await import('warren/service');
  } catch (err) {
    if (err && (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED')) {
      throw skip(`warren/service is not available (${err.code}); run \`npm run build\` first`);
    }
    throw err;
  }
}

function skip(message) {
  const e = new Error(message);
  e.skip = true;
  return e;
}

/** The body of a 200 answer; anything else fails the run. */
function bodyOf(res) {
  if (res.status !== 200) throw new Error(`echo answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

async function echoServer(dir, transport) {
  const { defineService, serveService } = await loadService();
  const echo = defineService({ name: 'echo', routes: { 'POST /echo': ({ body }) => body } });
  const options =
    transport === 'nats' ? { socketDir: dir, instance: 0, transport: 'nats', nats: { url: NATS_URL } } : { socketDir: dir, instance: 0 };
  const server = await serveService(echo, options);
  return server;
}

const warrenUnix = {
  async server(dir) {
    const server = await echoServer(dir, 'unix');
    return () => server.close();
  },
  async client(dir) {
    const { ServiceClient } = await loadService();
    const client = new ServiceClient({ socketDir: dir });
    const echo = client.service('echo');
    return { call: (payload) => echo.post('/echo', payload).then(bodyOf), close: async () => client.close() };
  },
};

const warrenNats = {
  async server(dir) {
    const server = await echoServer(dir, 'nats');
    // Ready once NATS routes calls to it: the NATS connection is made in the background.
    const deadline = Date.now() + 10_000;
    while (server.nats?.link.state !== 'up') {
      if (Date.now() > deadline) throw new Error(`NATS at ${NATS_URL} is not reachable: ${server.nats?.link.lastError}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await server.nats.link.flush();
    return () => server.close();
  },
  async client(dir) {
    const { ServiceClient } = await loadService();
    // A socket directory of its own, with the service's token and no socket: nothing is local.
    const callerDir = path.join(dir, 'caller');
    await mkdir(callerDir, { mode: 0o700 });
    copyFileSync(path.join(dir, '.auth_token'), path.join(callerDir, '.auth_token'));
    const client = new ServiceClient({ socketDir: callerDir, transport: 'nats', nats: { url: NATS_URL } });
    const echo = client.service('echo');
    // The first call waits for the connection; a few more for the subscription to be seen.
    for (let i = 0; ; i++) {
      try {
        bodyOf(await echo.post('/echo', 'warm'));
        break;
      } catch (err) {
        if (i > 100) throw err;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    return { call: (payload) => echo.post('/echo', payload).then(bodyOf), close: async () => client.close() };
  },
};

function loadMoleculer() {
  const dir = process.env.BENCH_MOLECULER_DIR;
  if (!dir) throw skip('set BENCH_MOLECULER_DIR to a folder with moleculer@0.14 and nats@2 installed (see bench/nats/systems.js)');
  try {
    return createRequire(path.join(path.resolve(dir), 'package.json'))('moleculer');
  } catch (err) {
    throw skip(`moleculer is not installed in ${dir}: ${err.message}`);
  }
}

/** One namespace per run (the server's directory name): runs never see each other's brokers. */
const namespaceOf = (dir) => `bench-${path.basename(dir)}`;

const moleculerNats = {
  async server(dir) {
    const { ServiceBroker } = loadMoleculer();
    const broker = new ServiceBroker({ nodeID: 'server', namespace: namespaceOf(dir), transporter: NATS_URL, logger: false });
    broker.createService({ name: 'echo', actions: { echo: (ctx) => ctx.params.p } });
    await broker.start();
    return () => broker.stop();
  },
  async client(dir) {
    const { ServiceBroker } = loadMoleculer();
    const broker = new ServiceBroker({ nodeID: 'client', namespace: namespaceOf(dir), transporter: NATS_URL, logger: false });
    await broker.start();
    await broker.waitForServices('echo', 10_000);
    return { call: (payload) => broker.call('echo.echo', { p: payload }), close: () => broker.stop() };
  },
};

const byName = { 'warren-unix': warrenUnix, 'warren-nats': warrenNats, 'moleculer-nats': moleculerNats };

export function getSystem(name) {
  const sys = byName[name];
  if (!sys) throw new Error(`unknown system ${name} (known: ${SYSTEMS.join(', ')})`);
  return sys;
}
