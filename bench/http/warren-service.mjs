// The Warren side's service: `GET /` answers "hello world\n" (text/plain), one instance, served on
// a Unix socket in --socket-dir by runService (from dist/, through the package's exports).
// Prints {"ready":true} once listening.
import { defineService, runService } from 'warren/service';

const args = process.argv.slice(2);
const socketDir = args[args.indexOf('--socket-dir') + 1];
if (args.indexOf('--socket-dir') === -1 || !socketDir) {
  process.stderr.write('warren-service: --socket-dir <dir> is required\n');
  process.exit(2);
}

await runService(defineService({ name: 'hello', routes: { 'GET /': () => 'hello world\n' } }), {
  socketDir,
  instance: 0,
  transport: 'unix',
  readyLine: null,
});
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
