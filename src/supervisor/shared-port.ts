/**
 * The TCP port of a service with `port`, held by the supervisor for as long as the service runs:
 * every process of the service gets the socket as a descriptor (process.ts) and listens on it
 * (shared-port-preload.ts), so all of them accept from one kernel queue that never closes while
 * instances crash, restart or are replaced. docs/config.md, "Sharing a port".
 *
 * The supervisor binds the socket but never listens on it itself: a listening handle is polled
 * by libuv, and the supervisor would accept a share of the connections it cannot serve. The
 * first instance's listen() makes the socket listen; it stays listening after that instance
 * exits, as long as any descriptor of it is open, and the supervisor's is. Binding without
 * listening is what Node's own cluster does for the handles its workers share
 * (`net._createServerHandle`, internal but used by lib/internal/cluster since Node 0.x); the
 * descriptor number is the handle's `fd`, which Unix platforms have.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { portUnavailable } from '../errors.js';

/** The parts of libuv's TCP handle used here. */
interface TcpHandle {
  readonly fd: number;
  close(): void;
}

type CreateServerHandle = (
  address: string | null,
  port: number,
  addressType: number | undefined,
  fd: undefined,
  flags: number,
) => TcpHandle | number;

export class SharedPort {
  private constructor(
    readonly port: number,
    readonly host: string | null,
    private handle: TcpHandle | null,
  ) {}

  /**
   * Binds `port` on `host` (null: every address, IPv6 and IPv4, as Node's `listen(port)`).
   * Rejects with WARREN_PORT_IN_USE, naming the service, when another process listens there.
   */
  static async open(service: string, port: number, host: string | null): Promise<SharedPort> {
    // libuv reports a bind conflict only at listen(), which the supervisor never calls: a probe
    // listen (closed at once) says whether the port is free.
    await probe(service, port, host);
    let address: string | null = null;
    let family: number | undefined;
    if (host !== null) {
      const found = await lookup(host).catch((error: Error) => {
        throw portUnavailable(`service '${service}': host ${host} of port ${port} does not resolve: ${error.message}`, { cause: error });
      });
      address = found.address;
      family = found.family;
    }
    const create = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;
    const handle = create(address, port, family, undefined, 0);
    if (typeof handle === 'number') {
      throw portUnavailable(`service '${service}': cannot bind port ${port}${host === null ? '' : ` on ${host}`} (error ${handle})`);
    }
    return new SharedPort(port, host, handle);
  }

  /** The descriptor that every process of the service inherits. */
  get fd(): number {
    if (this.handle === null) throw new Error(`port ${this.port} is closed`);
    return this.handle.fd;
  }

  get open(): boolean {
    return this.handle !== null;
  }

  /** Closes the supervisor's descriptor: once no process holds one either, the port is free. Idempotent. */
  close(): void {
    this.handle?.close();
    this.handle = null;
  }
}

function probe(service: string, port: number, host: string | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      const where = host === null ? `port ${port}` : `port ${port} on ${host}`;
      const fix =
        error.code === 'EADDRINUSE'
          ? `another process listens there (\`ss -ltnp 'sport = :${port}'\` names it): stop it, or give the service another port`
          : error.code === 'EACCES'
            ? 'ports below 1024 need privileges: use a higher port, or grant CAP_NET_BIND_SERVICE'
            : error.message;
      reject(portUnavailable(`service '${service}': cannot listen on ${where}: ${error.code ?? 'error'}: ${fix}`, { cause: error }));
    });
    server.listen({ port, ...(host === null ? {} : { host }) }, () => server.close(() => resolve()));
  });
}
