// node-ipc 9.2.1: event messages ('\f'-delimited JSON) over the socket. It has no
// request/response, so it is emulated: the client emits 'echo' with {id, data} and the server
// answers on 'echo.reply' with the same id. The module is a singleton, which is fine because
// every system runs in its own process (one server or one client per process).

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function loadIpc() {
  const ipc = require('node-ipc');
  ipc.config.silent = true;
  ipc.config.rawBuffer = false;
  ipc.config.unlink = true;
  ipc.config.maxRetries = 0; // never reconnect: a lost connection is a failure here
  ipc.config.stopRetrying = true;
  return ipc;
}

export async function server(path, _payloadInfo) {
  const ipc = loadIpc();
  await new Promise((resolve, reject) => {
    ipc.serve(path, () => {
      ipc.server.on('echo', (msg, socket) => {
        ipc.server.emit(socket, 'echo.reply', { id: msg.id, data: msg.data });
      });
      resolve();
    });
    ipc.server.on('error', reject);
    ipc.server.start();
  });
  return async () => {
    for (const s of ipc.server.sockets) s.destroy();
    ipc.server.stop();
  };
}

export async function client(path) {
  const ipc = loadIpc();
  const ID = 'warren-bench';
  const pending = new Map(); // id -> { resolve, reject }
  let nextId = 1;
  const failAll = (err) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  await new Promise((resolve, reject) => {
    ipc.connectTo(ID, path, () => {
      const conn = ipc.of[ID];
      conn.on('connect', resolve);
      conn.on('error', (err) => {
        reject(err);
        failAll(err);
      });
      conn.on('disconnect', () => failAll(new Error('node-ipc: disconnected')));
      conn.on('echo.reply', (msg) => {
        const p = pending.get(msg.id);
        if (p === undefined) return;
        pending.delete(msg.id);
        p.resolve(msg.data);
      });
    });
  });
  const conn = ipc.of[ID];
  return {
    call(payload) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        conn.emit('echo', { id, data: payload });
      });
    },
    async close() {
      ipc.disconnect(ID);
    },
  };
}
