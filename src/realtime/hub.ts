/**
 * The WebSocket hub (protocol: docs/realtime.md): the facade that wires its parts together.
 *
 * - upgrade.ts decides each upgrade before ws takes the socket (a refused client gets plain HTTP);
 * - membership.ts keeps channels and their members, and the Broadcaster's subscriptions with them;
 * - a broadcast goes through the Broadcaster seam (so that a cluster of hubs can share it) and
 *   comes back to delivery.ts, which records it for recovery, encodes and frames it once per
 *   format and writes the same bytes to every member through outbound.ts (write-buffer cap);
 * - dispatch.ts and subscribe.ts answer what clients send; liveness.ts pings them.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { badWsMessage } from '../errors.js';
import type { PeerServer } from '../peer/transports/socket.js';
import { type Authorizer, JoinAuthorizer } from './authorize.js';
import type { Connection } from './connection.js';
import { Delivery } from './delivery.js';
import { Dispatcher, type EventHandler } from './dispatch.js';
import { type Envelope, packEnvelope } from './envelope.js';
import { type Identity, pathOf, refuseUpgrade } from './handshake.js';
import { listenHubSocket } from './hub-socket.js';
import { Liveness } from './liveness.js';
import { Membership } from './membership.js';
import { type HubOptions, type ResolvedHubOptions, resolveHubOptions } from './options.js';
import { closeConnection, Outbound } from './outbound.js';
import { CHANNEL_NAME_PATTERN, CloseCode, isChannelName, userChannel } from './protocol.js';
import { RecoveryLog, type RecoveryStore } from './recovery.js';
import { Resumer } from './resume.js';
import { type Broadcaster, LocalBroadcaster, LocalRegistry, type PresenceMember, type Registry } from './seams.js';
import { listenToSocket } from './socket-events.js';
import { Subscriptions } from './subscribe.js';
import { Upgrader } from './upgrade.js';

export type { AuthorizeRequest, Authorizer } from './authorize.js';
export type { EventContext, EventHandler } from './dispatch.js';

export interface HubStats {
  connections: number;
  channels: number;
  /** Connections closed because their unsent data passed the write buffer (4008). */
  slowReadersClosed: number;
  /** Connections closed for a missed pong (4001). */
  heartbeatsMissed: number;
  /** Handshakes refused, by HTTP status. */
  refused: Record<number, number>;
  /** Broadcasts published here that the Broadcaster could not send (its transport unreachable). */
  broadcastsLost: number;
}

/** A broadcast on its way: `hub.to(channel).except(connection).emit(event, data)`. */
export interface BroadcastTarget {
  except(connection: Connection | string): BroadcastTarget;
  emit(event: string, data?: unknown): void;
}

export class Hub {
  readonly options: ResolvedHubOptions;
  /** This process's hub: prefixes connection ids and tells its broadcasts apart. */
  readonly id = randomBytes(6).toString('base64url');
  readonly server: Server | undefined;
  readonly broadcaster: Broadcaster;
  readonly registry: Registry;
  readonly #connections = new Set<Connection>();
  readonly #connectionListeners = new Set<(connection: Connection) => void>();
  readonly #disconnectListeners = new Set<(connection: Connection, code: number) => void>();
  readonly #recovery: RecoveryStore<Envelope>;
  readonly #membership: Membership;
  readonly #outbound: Outbound;
  readonly #delivery: Delivery;
  readonly #authorizer: JoinAuthorizer;
  readonly #dispatcher: Dispatcher;
  readonly #upgrader: Upgrader;
  readonly #liveness = new Liveness();
  readonly #timer: NodeJS.Timeout;
  readonly #ownsServer: boolean;
  #hubSocket: Promise<PeerServer> | undefined;
  #sequence = 0;
  #closing: Promise<void> | undefined;

  constructor(options: HubOptions = {}) {
    this.options = resolveHubOptions(options);
    const o = this.options;
    this.broadcaster = options.broadcaster ?? new LocalBroadcaster();
    this.registry = options.registry ?? new LocalRegistry();
    this.broadcaster.onMessage((channel, message, position) => this.#delivery.deliver(channel, message, position));
    const publish = (channel: string, event: string, data: unknown, except?: string) => this.publish(channel, event, data, except);
    this.#recovery =
      this.broadcaster.recoveryStore?.(o.recoverySize, o.recoveryWindowMs) ??
      new RecoveryLog(o.recoverySize, o.recoveryWindowMs, { forgetOnRelease: this.broadcaster.deliversAll !== true });
    this.#membership = new Membership(this.broadcaster, this.registry, this.#recovery, publish);
    this.#outbound = new Outbound(o);
    const resumer = new Resumer(this.#recovery, (connection, prepared) => this.#outbound.write(connection, prepared));
    this.#delivery = new Delivery(this.id, this.#membership, this.#recovery, resumer, this.#outbound);
    this.#authorizer = new JoinAuthorizer(o.channelSecret);
    const subscriptions = new Subscriptions({
      authorizer: this.#authorizer,
      membership: this.#membership,
      resumer,
      registry: this.registry,
      isOpen: (connection) => connection.closedWith === undefined && this.#connections.has(connection),
    });
    this.#dispatcher = new Dispatcher({ maxBadMessages: o.maxBadMessages, outbound: this.#outbound, subscriptions, publish });
    this.#upgrader = new Upgrader(
      o,
      () => this.#closing !== undefined,
      (connection, format, identity) => this.#accept(connection, format, identity),
    );
    this.#ownsServer = o.server === undefined && o.listen;
    this.server =
      o.server ??
      (o.listen ? createServer((_req, res) => res.writeHead(426, { 'Content-Type': 'text/plain' }).end('Upgrade Required\n')) : undefined);
    this.server?.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (pathOf(req) !== o.path) {
        // Another path on a server of the hub's own: nobody else will answer it.
        if (this.#ownsServer) refuseUpgrade(socket, 404, `no WebSocket endpoint at ${pathOf(req)}`);
        return;
      }
      this.handleUpgrade(req, socket, head);
    });
    this.#timer = setInterval(() => this.#heartbeat(), o.heartbeatMs);
    this.#timer.unref();
  }

  /** The port the hub's own server listens on (after `listen()`), or undefined. */
  get port(): number | undefined {
    const address = this.server?.address() as AddressInfo | null | undefined;
    return address?.port;
  }

  get stats(): HubStats {
    return {
      connections: this.#connections.size,
      channels: this.#membership.channelCount,
      slowReadersClosed: this.#outbound.slowReadersClosed,
      heartbeatsMissed: this.#liveness.heartbeatsMissed,
      refused: { ...this.#upgrader.refused },
      broadcastsLost: this.broadcaster.lost ?? 0,
    };
  }

  get connections(): ReadonlySet<Connection> {
    return this.#connections;
  }

  /** Starts listening (the hub's own server, and hub.sock with `socketDir`); resolves once it does. */
  async listen(): Promise<void> {
    if (this.options.socketDir !== undefined && this.#hubSocket === undefined) {
      this.#hubSocket = listenHubSocket(this, this.options.socketDir);
      await this.#hubSocket;
    }
    const server = this.server;
    if (!this.#ownsServer || server === undefined || server.listening) return;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  /** Handles a client event (`hub.on('chat', (data, { connection }) => …)`); returns the remover. */
  on(event: string, handler: EventHandler): () => void {
    return this.#dispatcher.on(event, handler);
  }

  onConnection(listener: (connection: Connection) => void): () => void {
    this.#connectionListeners.add(listener);
    return () => this.#connectionListeners.delete(listener);
  }

  onDisconnect(listener: (connection: Connection, code: number) => void): () => void {
    this.#disconnectListeners.add(listener);
    return () => this.#disconnectListeners.delete(listener);
  }

  /**
   * Adds an authorizer of private and presence channels. Authorizers run by priority (highest
   * first, then in the order added); the first that denies decides; otherwise the channel is
   * allowed if one allowed it (or the client showed a valid channel token).
   */
  authorize(authorizer: Authorizer, options: { priority?: number } = {}): () => void {
    return this.#authorizer.add(authorizer, options.priority ?? 0);
  }

  /** Broadcasts to a channel's members: `hub.to('room:lobby').except(connection).emit('message', data)`. */
  to(channel: string): BroadcastTarget {
    if (!isChannelName(channel)) throw badWsMessage(`channel name ${JSON.stringify(channel)} does not match ${CHANNEL_NAME_PATTERN}`);
    let except: string | undefined;
    const target: BroadcastTarget = {
      except: (connection) => {
        except = typeof connection === 'string' ? connection : connection.id;
        return target;
      },
      emit: (event, data) => this.publish(channel, event, data, except),
    };
    return target;
  }

  /** Publishes a broadcast through the Broadcaster (so every hub with members in the channel gets it). */
  publish(channel: string, event: string, data: unknown, except?: string): void {
    this.broadcaster.publish(channel, packEnvelope({ event, data, except }));
  }

  /** Makes a connection a member of `channel` on the server's say (no authorization). */
  async join(connection: Connection, channel: string): Promise<void> {
    if (!isChannelName(channel)) throw badWsMessage(`channel name ${JSON.stringify(channel)} is not valid`);
    if (connection.in(channel) || connection.closedWith !== undefined || !this.#connections.has(connection)) return;
    await this.#membership.join(connection, channel);
  }

  /** Removes a connection from `channel`. */
  leave(connection: Connection, channel: string): Promise<void> {
    return this.#membership.leave(connection, channel);
  }

  /** Who is present in a presence channel (each user once). */
  members(channel: string): Promise<PresenceMember[]> {
    return this.registry.members(channel);
  }

  /** The connections of this hub in `channel`. */
  connectionsIn(channel: string): ReadonlySet<Connection> {
    return this.#membership.connectionsIn(channel);
  }

  /** How many of this hub's connections are in `channel`. */
  memberCount(channel: string): number {
    return this.#membership.count(channel);
  }

  /**
   * Runs the handshake pipeline for an upgrade request and upgrades it when it passes: for a
   * gateway that forwards a path to the hub.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#upgrader.handle(req, socket, head);
  }

  /** Closes every connection with 1001 and stops listening. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    clearInterval(this.#timer);
    for (const connection of this.#connections) closeConnection(connection, CloseCode.GOING_AWAY, 'hub going away');
    if (this.#ownsServer && this.server?.listening) {
      const server = this.server;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
    await this.#hubSocket?.then(
      (server) => server.close(),
      () => {},
    );
    // Sockets still closing (their close frame on its way) are cut.
    for (const connection of this.#connections) connection.socket.terminate();
    await this.broadcaster.close();
    await this.registry.close();
  }

  #accept(connection: Connection, format: Connection['format'], identity: Identity | undefined): void {
    connection.owner = this;
    connection.seq = ++this.#sequence;
    connection.format = format;
    connection.userId = identity?.userId;
    connection.info = identity?.info;
    listenToSocket(connection);
    this.#connections.add(connection);
    // Every device of a user: its connections are members of user.<id> from the start. The
    // client hears `connected` once that subscription is in place (at once, locally).
    const subscribed = connection.userId === undefined ? undefined : this.#membership.add(connection, userChannel(connection.userId));
    if (subscribed === undefined) this.#sendConnected(connection);
    else subscribed.then(() => this.#sendConnected(connection));
    for (const listener of this.#connectionListeners) listener(connection);
  }

  #sendConnected(connection: Connection): void {
    this.#outbound.send(connection, {
      event: 'connected',
      data: { connectionId: connection.id, userId: connection.userId, heartbeatS: this.options.heartbeatMs / 1000 },
    });
  }

  /** A frame from a client (called by the shared socket listener). */
  receive(connection: Connection, bytes: Buffer, isBinary: boolean): void {
    this.#dispatcher.receive(connection, bytes, isBinary);
  }

  /** A closed socket: leaves its channels (called by the shared socket listener). */
  forget(connection: Connection): void {
    if (!this.#connections.delete(connection)) return;
    this.#membership.leaveAll(connection);
    const code = connection.closedWith ?? CloseCode.NORMAL;
    for (const listener of this.#disconnectListeners) listener(connection, code);
  }

  #heartbeat(): void {
    this.#upgrader.prune();
    this.#recovery.prune(this.#membership.isActive);
    this.#liveness.sweep(this.#connections);
  }
}

/** Starts a hub: creates (or attaches to) its HTTP server and listens. */
export async function startHub(options: HubOptions = {}): Promise<Hub> {
  const hub = new Hub(options);
  try {
    await hub.listen();
  } catch (error) {
    // hub.sock may be listening already, and the seams connected: they would keep the process alive.
    await hub.close();
    throw error;
  }
  return hub;
}
