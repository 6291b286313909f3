// The Warren side's gateway, in its own process: startGateway (from dist/) on a free port of
// 127.0.0.1 in front of the services in --socket-dir, the configuration's defaults otherwise.
// --access-log keeps the access log (written to --log-dir); without it the log is off, as
// nginx's is in this benchmark. Prints {"ready":true,"port":N} once every route is known.
import { startGateway } from 'warren/gateway';

const args = process.argv.slice(2);
const value = (name) => {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
};
const socketDir = value('--socket-dir');
if (!socketDir) {
  process.stderr.write('warren-gateway: --socket-dir <dir> is required\n');
  process.exit(2);
}
const accessLog = args.includes('--access-log');
const logDir = value('--log-dir');

const gateway = await startGateway({
  port: 0,
  host: '127.0.0.1',
  socketDir,
  accessLog,
  logLevel: 'warn',
  ...(accessLog && logDir ? { logDir } : {}),
});
await gateway.ready();
process.stdout.write(`${JSON.stringify({ ready: true, port: gateway.address.port, routes: gateway.routes().length })}\n`);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    void gateway.close().finally(() => process.exit(0));
  });
}
