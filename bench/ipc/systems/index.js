// The systems under test, by name. Each module exports:
//   server(path, payloadInfo) -> Promise<close: () => Promise<void>>
//   client(path)              -> Promise<{ call(payload) -> Promise<string>, close() -> Promise<void> }>
// Modules are loaded lazily so that a system whose dependency is missing (warren before
// `npm run build`) does not stop the others.

export const SYSTEMS = ['raw-node', 'vscode-jsonrpc', 'node-ipc', 'warren-msgpack', 'warren-json'];

export async function loadSystem(name) {
  if (!SYSTEMS.includes(name)) throw new Error(`unknown system ${name} (known: ${SYSTEMS.join(', ')})`);
  return import(`./${name}.js`);
}
