// Warren's own peer (warren/peer, built into dist/ by `npm run build`), with a chosen codec.
// The module is imported lazily: if dist/ is not built, the import fails and the child
// process reports the system as skipped.

export async function loadWarrenPeer() {
  let mod;
  try {
    mod = await import('warren/peer');
  } catch (err) {
    if (err && (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED')) {
      const e = new Error(`warren/peer is not available (${err.code}: ${err.message}); run \`npm run build\` first`);
      e.skip = true; // the child reports the system as skipped, not failed
      throw e;
    }
    throw err;
  }
  for (const name of ['listenUnix', 'connectUnix']) {
    if (typeof mod[name] !== 'function') throw new Error(`warren/peer does not export ${name}()`);
  }
  return mod;
}

export function makeWarrenSystem(codec) {
  return {
    async server(path, _payloadInfo) {
      const { listenUnix } = await loadWarrenPeer();
      const srv = await listenUnix(
        path,
        (peer) => {
          peer.onRequest('echo', (params) => params);
        },
        { codec },
      );
      return () => srv.close();
    },
    async client(path) {
      const { connectUnix } = await loadWarrenPeer();
      const peer = await connectUnix(path, { codec });
      return {
        call: (payload) => peer.request('echo', payload),
        close: () => peer.close(),
      };
    },
  };
}
