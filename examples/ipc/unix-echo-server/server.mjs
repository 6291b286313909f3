// The echo server: listens where its parent tells it to, answers 'echo' on every connection,
// and shuts down when its parent closes the control channel on stdin.
import { listenUnix, stdioPeer } from 'warren/peer';

const control = stdioPeer({ name: 'control' });
const stats = { connections: 0, open: 0, maxOpen: 0, echoes: 0 };
let server;

control.onRequest('listen', async ({ path }) => {
  server = await listenUnix(path, (client) => {
    stats.connections++;
    stats.maxOpen = Math.max(stats.maxOpen, ++stats.open);
    client.on('close', () => stats.open--);
    client.onRequest('echo', (message) => {
      stats.echoes++;
      return message;
    });
  });
  // Something other than undefined: a handler returning undefined means 'not mine' (WARREN_NO_HANDLER).
  return true;
});

control.onRequest('stats', () => stats);

// The listening socket would keep this process alive forever; close it when the parent leaves.
control.on('close', () => void server?.close());
