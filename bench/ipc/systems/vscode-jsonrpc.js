// vscode-jsonrpc: Content-Length framed JSON-RPC 2.0 over the socket, request 'echo'.

import net from 'node:net';
import { createMessageConnection, SocketMessageReader, SocketMessageWriter } from 'vscode-jsonrpc/node';

export async function server(path, _payloadInfo) {
  const conns = new Set();
  const srv = net.createServer((socket) => {
    socket.on('error', () => {});
    const conn = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
    conns.add(conn);
    conn.onRequest('echo', (params) => params);
    conn.onClose(() => conns.delete(conn));
    conn.onError(() => {});
    conn.listen();
  });
  await new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(path, resolve);
  });
  return () =>
    new Promise((resolve) => {
      for (const c of conns) c.dispose();
      srv.close(() => resolve());
    });
}

export async function client(path) {
  const socket = net.connect(path);
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const conn = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
  conn.onError(() => {});
  conn.listen();
  return {
    call: (payload) => conn.sendRequest('echo', payload),
    async close() {
      conn.dispose();
      socket.destroy();
    },
  };
}
