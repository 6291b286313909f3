/**
 * The WebSocket hub (protocol: docs/realtime.md). ws carries the sockets in noServer mode; the
 * hub decides each upgrade itself first (path, origin, per-IP rate, subprotocol, identity), so a
 * refused client gets a plain HTTP answer and never an upgraded socket.
 *
 * Channels hold Connections. A broadcast goes through the Broadcaster seam (so that a cluster of
 * hubs can share it) and comes back to `#deliver`, which records it for recovery, encodes and
 * frames it once per format and writes the same bytes to every member.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { badWsMessage, forbidden, isWarrenError, noHandler, notSubscribed, remoteError, type WarrenError } from '../errors.js';
import type { PeerServer } from '../peer/transports/socket.js';
import { Connection } from './connection.js';
import { packEnvelope, unpackEnvelope } from './envelope.js';
import { decode, encode, isBinaryFormat } from './format.js';
import { PreparedMessage, writePrepared } from './frames.js';
import { chooseFormat, clientAddress, type Identity, originAllowed, pathOf, refuseUpgrade } from './handshake.js';
import { listenHubSocket } from './hub-socket.js';
import { type HubOptions, type ResolvedHubOptions, resolveHubOptions } from './options.js';
import {
  CHANNEL_NAME_PATTERN,
  CLIENT_EVENT_PREFIX,
  CloseCode,
  channelKind,
  isChannelName,
  RESERVED_EVENTS,
  userChannel,
  type WireMessage,
} from './protocol.js';
import { ConnectionRateLimiter } from './rate-limit.js';
import { RecoveryLog } from './recovery.js';
import { type Broadcaster, LocalBroadcaster, LocalRegistry, type PresenceMember, type Registry } from './seams.js';
import { verifyChannelToken } from './tokens.js';

/** What a server-side event handler gets besides the data. */
export interface EventContext {
  connection: Connection;
  /** The channel the message named, if any (the client is subscribed to it). */
  channel: string | undefined;
}

/** A handler of client events; what it returns (or resolves to) answers the client's ack. */
export type EventHandler = (data: unknown, context: EventContext) => unknown;

/** What an authorizer sees when a connection asks to join a private or presence channel. */
export interface AuthorizeRequest {
  connection: Connection;
  channel: string;
  /** The subscribe message's data (without the token). */
  data: Record<string, unknown>;
}

/** true: allow; false: deny (wins at once); undefined: no opinion. */
export type Authorizer = (request: AuthorizeRequest) => boolean | undefined | Promise<boolean | undefined>;

export interface HubStats {
  connections: number;
  channels: number;
  /** Connections closed because their unsent data passed the write buffer (4008). */
  slowReadersClosed: number;
  /** Connections closed for a missed pong (4001). */
  heartbeatsMissed: number;
  /** Handshakes refused, by HTTP status. */
  refused: Record<number, number>;
}

/** A broadcast on its way: `hub.to(channel).except(connection).emit(event, data)`. */
export interface BroadcastTarget {
  except(connection: Connection | string): BroadcastTarget;
  emit(event: string, data?: unknown): void;
}

// The socket listeners are shared by every connection (no closure per connection); `this` is the connection.
function onSocketMessage(this: WebSocket, bytes: Buffer, isBinary: boolean): void {
  const connection = this as Connection;
  connection.owner?.receive(connection, bytes, isBinary);
}
function onSocketPong(this: WebSocket): void {
  (this as Connection).alive = true;
}
function onSocketClose(this: WebSocket): void {
  const connection = this as Connection;
  connection.owner?.forget(connection);
}
function onSocketError(this: WebSocket): void {
  // ws closes the socket itself after an error (1009 for maxPayload, 1002 for bad frames); 'close' follows.
}

interface BroadcastEntry {
  prepared: PreparedMessage;
  except: string | undefined;
}

export class Hub {
  readonly options: ResolvedHubOptions;
  /** This process's hub: prefixes connection ids and tells its broadcasts apart. */
  readonly id = randomBytes(6).toString('base64url');
  readonly server: Server | undefined;
  readonly broadcaster: Broadcaster;
  readonly registry: Registry;
  readonly #wss: WebSocketServer;
  readonly #connections = new Set<Connection>();
  /** Each channel's members here: the connection alone while it is the only one, then a Set. */
  readonly #members = new Map<string, Connection | Set<Connection>>();
  readonly #handlers = new Map<string, EventHandler>();
  readonly #authorizers: { authorizer: Authorizer; priority: number }[] = [];
  readonly #connectionListeners = new Set<(connection: Connection) => void>();
  readonly #disconnectListeners = new Set<(connection: Connection, code: number) => void>();
  readonly #rate: ConnectionRateLimiter;
  readonly #recovery: RecoveryLog<BroadcastEntry>;
  readonly #timer: NodeJS.Timeout;
  readonly #ownsServer: boolean;
  #hubSocket: Promise<PeerServer> | undefined;
  #corked: Duplex[] = [];
  #sequence = 0;
  #closing: Promise<void> | undefined;
  #stats = { slowReadersClosed: 0, heartbeatsMissed: 0, refused: {} as Record<number, number> };

  constructor(options: HubOptions = {}) {
    this.options = resolveHubOptions(options);
    const o = this.options;
    this.broadcaster = options.broadcaster ?? new LocalBroadcaster();
    this.registry = options.registry ?? new LocalRegistry();
    this.broadcaster.onMessage((channel, message) => this.#deliver(channel, message));
    this.#rate = new ConnectionRateLimiter(o.connectionRate);
    this.#recovery = new RecoveryLog(o.recoverySize, o.recoveryWindowMs);
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: o.maxMessageSize,
      perMessageDeflate: o.perMessageDeflate,
      clientTracking: false,
      WebSocket: Connection,
      // The subprotocol was chosen before the upgrade (see #upgrade); ws only echoes it.
      handleProtocols: (protocols, req) =>
        (req as IncomingMessage & { warrenProtocol?: string }).warrenProtocol ?? protocols.values().next().value ?? false,
    });
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
    return { connections: this.#connections.size, channels: this.#members.size, ...this.#stats, refused: { ...this.#stats.refused } };
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
    if (RESERVED_EVENTS.has(event)) throw badWsMessage(`event '${event}' is reserved by the hub`);
    this.#handlers.set(event, handler);
    return () => {
      if (this.#handlers.get(event) === handler) this.#handlers.delete(event);
    };
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
    const entry = { authorizer, priority: options.priority ?? 0 };
    this.#authorizers.push(entry);
    this.#authorizers.sort((a, b) => b.priority - a.priority);
    return () => {
      const index = this.#authorizers.indexOf(entry);
      if (index >= 0) this.#authorizers.splice(index, 1);
    };
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
    await this.#addMember(connection, channel);
    if (channelKind(channel) === 'presence') await this.#presenceJoin(connection, channel);
  }

  /** Removes a connection from `channel`. */
  async leave(connection: Connection, channel: string): Promise<void> {
    if (!connection.in(channel)) return;
    this.#removeMember(connection, channel);
    if (channelKind(channel) === 'presence') await this.#presenceLeave(connection, channel);
  }

  /** Who is present in a presence channel (each user once). */
  members(channel: string): Promise<PresenceMember[]> {
    return this.registry.members(channel);
  }

  /** The connections of this hub in `channel`. */
  connectionsIn(channel: string): ReadonlySet<Connection> {
    const members = this.#members.get(channel);
    if (members === undefined) return new Set();
    return members instanceof Set ? members : new Set([members]);
  }

  /** How many of this hub's connections are in `channel`. */
  memberCount(channel: string): number {
    const members = this.#members.get(channel);
    if (members === undefined) return 0;
    return members instanceof Set ? members.size : 1;
  }

  /**
   * Runs the handshake pipeline for an upgrade request and upgrades it when it passes: for a
   * gateway that forwards a path to the hub.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const o = this.options;
    if (this.#closing !== undefined) {
      this.#refuse(socket, 503, 'the hub is shutting down');
      return;
    }
    if (!originAllowed(o.allowedOrigins, req.headers.origin)) {
      this.#refuse(socket, 403, `origin ${req.headers.origin} is not allowed`);
      return;
    }
    const ip = clientAddress(req);
    if (!this.#rate.take(ip)) {
      this.#refuse(socket, 429, 'too many connections from this address', { 'Retry-After': String(this.#rate.retryAfterS(ip)) });
      return;
    }
    const chosen = chooseFormat(req, o.defaultFormat);
    if (chosen === null) {
      this.#refuse(socket, 400, 'no supported subprotocol offered (warren.json, warren.msgpack)');
      return;
    }
    (req as IncomingMessage & { warrenProtocol?: string | undefined }).warrenProtocol = chosen.protocol;
    const upgrade = (identity: Identity | undefined) => {
      if (socket.destroyed) return;
      if (this.#closing !== undefined) {
        this.#refuse(socket, 503, 'the hub is shutting down');
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, chosen.format, identity));
    };
    const authenticate = o.authenticate;
    if (authenticate === undefined) {
      upgrade(undefined);
      return;
    }
    let result: ReturnType<typeof authenticate>;
    try {
      result = authenticate(req);
    } catch (error) {
      this.#refuseAuth(socket, error);
      return;
    }
    Promise.resolve(result).then(
      (identity) => {
        if (identity === null || identity === undefined) {
          this.#refuse(socket, 401, 'authentication required');
          return;
        }
        if (typeof identity.userId !== 'string' || identity.userId === '' || !isChannelName(`user.${identity.userId}`)) {
          this.#refuse(socket, 500, 'authenticate returned no valid userId');
          return;
        }
        upgrade(identity);
      },
      (error) => this.#refuseAuth(socket, error),
    );
  }

  /** Closes every connection with 1001 and stops listening. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    clearInterval(this.#timer);
    for (const connection of this.#connections) this.#closeConnection(connection, CloseCode.GOING_AWAY, 'hub going away');
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

  #refuse(socket: Duplex, status: number, message: string, headers?: Record<string, string>): void {
    this.#stats.refused[status] = (this.#stats.refused[status] ?? 0) + 1;
    refuseUpgrade(socket, status, message, headers);
  }

  #refuseAuth(socket: Duplex, error: unknown): void {
    const status = isWarrenError(error) && (error as WarrenError & { status?: number }).status === 403 ? 403 : 401;
    this.#refuse(socket, status, status === 403 ? 'forbidden' : 'authentication failed');
  }

  #accept(ws: WebSocket, format: Connection['format'], identity: Identity | undefined): void {
    const connection = ws as Connection;
    connection.owner = this;
    connection.seq = ++this.#sequence;
    connection.format = format;
    connection.userId = identity?.userId;
    connection.info = identity?.info;
    ws.on('message', onSocketMessage);
    ws.on('pong', onSocketPong);
    ws.on('close', onSocketClose);
    ws.on('error', onSocketError);
    this.#connections.add(connection);
    // Every device of a user: its connections are members of user.<id> from the start. The
    // client hears `connected` once that subscription is in place (at once, locally).
    const subscribed = connection.userId === undefined ? undefined : this.#addMember(connection, userChannel(connection.userId));
    if (subscribed === undefined) this.#sendConnected(connection);
    else subscribed.then(() => this.#sendConnected(connection));
    for (const listener of this.#connectionListeners) listener(connection);
  }

  #sendConnected(connection: Connection): void {
    this.#send(connection, {
      event: 'connected',
      data: { connectionId: connection.id, userId: connection.userId, heartbeatS: this.options.heartbeatMs / 1000 },
    });
  }

  /** A frame from a client (called by the shared socket listener). */
  receive(connection: Connection, bytes: Buffer, isBinary: boolean): void {
    connection.alive = true;
    const message = decode(connection.format, bytes, isBinary);
    if (typeof message === 'string') {
      this.#badMessage(connection, undefined, message);
      return;
    }
    const { event, channel, id } = message;
    if (channel !== undefined && !isChannelName(channel)) {
      this.#badMessage(connection, id, `channel name ${JSON.stringify(String(channel).slice(0, 210))} is not valid`);
      return;
    }
    let outcome: unknown;
    try {
      if (event === 'subscribe') outcome = this.#subscribe(connection, message);
      else if (event === 'unsubscribe') outcome = this.#unsubscribe(connection, message);
      else if (RESERVED_EVENTS.has(event)) throw badWsMessage(`event '${event}' is reserved`);
      else outcome = this.#clientEvent(connection, message);
    } catch (error) {
      this.#answerError(connection, id, error);
      return;
    }
    Promise.resolve(outcome).then(
      (data) => {
        if (id !== undefined) this.#send(connection, { event: 'ack', id, data });
      },
      (error) => this.#answerError(connection, id, error),
    );
  }

  /** A closed socket: leaves its channels (called by the shared socket listener). */
  forget(connection: Connection): void {
    if (!this.#connections.delete(connection)) return;
    const channels = connection.channels;
    if (channels.length > 0) {
      for (const channel of channels) {
        this.#removeMember(connection, channel);
        if (channelKind(channel) === 'presence') void this.#presenceLeave(connection, channel).catch(() => {});
      }
    }
    const code = connection.closedWith ?? CloseCode.NORMAL;
    for (const listener of this.#disconnectListeners) listener(connection, code);
  }

  #badMessage(connection: Connection, id: number | undefined, reason: string): void {
    this.#answerError(connection, id, badWsMessage(reason));
    if (++connection.badMessages >= this.options.maxBadMessages) this.#closeConnection(connection, CloseCode.BAD_PROTOCOL, 'bad messages');
  }

  async #subscribe(connection: Connection, message: WireMessage): Promise<unknown> {
    const channel = message.channel;
    if (channel === undefined) throw badWsMessage("subscribe needs 'channel'");
    const data = (typeof message.data === 'object' && message.data !== null ? message.data : {}) as Record<string, unknown>;
    const since = parseSince(data.since);
    if (!connection.in(channel)) {
      await this.#authorizeJoin(connection, channel, data);
      if (connection.closedWith !== undefined || !this.#connections.has(connection)) return undefined;
    }
    // Membership and replay in one synchronous step: no broadcast can fall between them.
    const joined = !connection.in(channel);
    const subscribed = joined ? this.#addMember(connection, channel) : undefined;
    let recovered: boolean | undefined;
    if (since !== undefined) {
      const result = this.#recovery.since(channel, since.epoch, since.offset);
      recovered = result.recovered;
      if (result.recovered) for (const record of result.missed) this.#write(connection, record.entry.prepared);
    }
    const ack: Record<string, unknown> = { channel, epoch: this.#recovery.epoch, offset: this.#recovery.offset(channel) };
    if (recovered !== undefined) ack.recovered = recovered;
    await subscribed;
    if (channelKind(channel) === 'presence') {
      if (joined) await this.#presenceJoin(connection, channel);
      ack.members = await this.registry.members(channel);
    }
    return ack;
  }

  async #unsubscribe(connection: Connection, message: WireMessage): Promise<unknown> {
    const channel = message.channel;
    if (channel === undefined) throw badWsMessage("unsubscribe needs 'channel'");
    await this.leave(connection, channel);
    return { channel };
  }

  async #authorizeJoin(connection: Connection, channel: string, data: Record<string, unknown>): Promise<void> {
    const kind = channelKind(channel);
    if (kind === 'public') return;
    if (kind === 'user') {
      if (connection.userId === undefined || channel !== userChannel(connection.userId))
        throw forbidden(`${channel} belongs to another user`);
      return;
    }
    const secret = this.options.channelSecret;
    let allowed = secret !== undefined && data.token !== undefined && verifyChannelToken(secret, connection.id, channel, data.token);
    if (data.token !== undefined && !allowed) throw forbidden(`channel token for ${channel} is not valid`);
    const { token: _token, ...rest } = data;
    for (const { authorizer } of this.#authorizers) {
      const decision = await authorizer({ connection, channel, data: rest });
      if (decision === false) throw forbidden(`not allowed to join ${channel}`);
      if (decision === true) allowed = true;
    }
    if (!allowed) throw forbidden(`not allowed to join ${channel}`);
  }

  async #clientEvent(connection: Connection, message: WireMessage): Promise<unknown> {
    const { event, channel } = message;
    if (channel !== undefined && !connection.in(channel)) throw notSubscribed(`not subscribed to ${channel}`);
    if (channel !== undefined && event.startsWith(CLIENT_EVENT_PREFIX)) {
      const kind = channelKind(channel);
      if (kind !== 'private' && kind !== 'presence')
        throw forbidden(`client events are relayed on private and presence channels only, not ${channel}`);
      this.publish(channel, event, message.data, connection.id);
      return undefined;
    }
    const handler = this.#handlers.get(event);
    if (handler === undefined) throw noHandler(`no handler for event '${event}'`);
    return handler(message.data, { connection, channel });
  }

  async #presenceJoin(connection: Connection, channel: string): Promise<void> {
    if (connection.userId === undefined) return;
    const member = { userId: connection.userId, info: connection.info };
    const { first } = await this.registry.join(channel, member);
    if (first) this.publish(channel, 'presence:joined', member, connection.id);
  }

  async #presenceLeave(connection: Connection, channel: string): Promise<void> {
    if (connection.userId === undefined) return;
    const { last, member } = await this.registry.leave(channel, connection.userId);
    if (last) this.publish(channel, 'presence:left', member ?? { userId: connection.userId, info: connection.info });
  }

  /** Adds a member; the promise of the Broadcaster's subscription when it is the channel's first here. */
  #addMember(connection: Connection, channel: string): void | Promise<void> {
    connection.addChannel(channel);
    const members = this.#members.get(channel);
    if (members === undefined) {
      this.#members.set(channel, connection);
      return this.broadcaster.subscribe(channel);
    }
    if (members instanceof Set) members.add(connection);
    else if (members !== connection) this.#members.set(channel, new Set([members, connection]));
  }

  #removeMember(connection: Connection, channel: string): void {
    connection.deleteChannel(channel);
    const members = this.#members.get(channel);
    if (members === undefined) return;
    if (members instanceof Set) {
      members.delete(connection);
      if (members.size > 0) return;
    } else if (members !== connection) return;
    this.#members.delete(channel);
    this.broadcaster.unsubscribe(channel);
  }

  /** A broadcast from the Broadcaster: recorded, encoded once per format, written to every member. */
  #deliver(channel: string, bytes: Uint8Array): void {
    const envelope = unpackEnvelope(bytes);
    const members = this.#members.get(channel);
    if (envelope === undefined || members === undefined) return;
    const prepared = new PreparedMessage({ event: envelope.event, channel, data: envelope.data });
    const offset = this.#recovery.append(channel, { prepared, except: envelope.except });
    prepared.message.offset = offset;
    // Compared by number: a connection's id string is made only when asked for.
    const except = this.#seqOf(envelope.except);
    if (!(members instanceof Set)) {
      if (members.seq !== except) this.#write(members, prepared);
      return;
    }
    for (const connection of members) {
      if (connection.seq !== except) this.#write(connection, prepared);
    }
  }

  /** The number of this hub's connection `id`, or -1 for another hub's or none. */
  #seqOf(id: string | undefined): number {
    const prefix = this.id.length + 1;
    if (id === undefined || id.length <= prefix || !id.startsWith(this.id) || id[this.id.length] !== '.') return -1;
    return Number(id.slice(prefix));
  }

  #write(connection: Connection, prepared: PreparedMessage): void {
    const socket = connection.socket;
    if (socket.readyState !== 1 || connection.closedWith !== undefined) return;
    const bytes = prepared.get(connection.format);
    // Checked before the write, so a connection never holds more than the limit.
    if (socket.bufferedAmount + bytes.frame.length > this.options.writeBufferSize) {
      this.#stats.slowReadersClosed++;
      this.#closeConnection(connection, CloseCode.SLOW_READER, 'write buffer full', true);
      return;
    }
    this.#cork(connection);
    writePrepared(socket, bytes, this.options.perMessageDeflate);
  }

  /**
   * Holds a connection's writes until the end of this tick, so that the broadcasts of one burst
   * reach its socket in one system call instead of one each (socket.io's advantage in fan-out).
   */
  #cork(connection: Connection): void {
    const raw = (connection as unknown as { _socket: Duplex | null })._socket;
    if (raw === null || raw.writableCorked > 0) return;
    raw.cork();
    this.#corked.push(raw);
    if (this.#corked.length === 1) process.nextTick(this.#uncorkAll);
  }

  readonly #uncorkAll = (): void => {
    const corked = this.#corked;
    this.#corked = [];
    for (const raw of corked) raw.uncork();
  };

  #send(connection: Connection, message: WireMessage): void {
    const socket = connection.socket;
    if (socket.readyState !== 1 || connection.closedWith !== undefined) return;
    const payload = encode(connection.format, message);
    if (socket.bufferedAmount + payload.length > this.options.writeBufferSize) {
      this.#stats.slowReadersClosed++;
      this.#closeConnection(connection, CloseCode.SLOW_READER, 'write buffer full', true);
      return;
    }
    socket.send(payload, { binary: isBinaryFormat(connection.format) });
  }

  #answerError(connection: Connection, id: number | undefined, error: unknown): void {
    const known = isWarrenError(error) || (error instanceof Error && typeof (error as { code?: unknown }).code === 'string');
    const code = known ? (error as WarrenError).code : remoteError('').code;
    const message = error instanceof Error ? error.message : String(error);
    if (id !== undefined) this.#send(connection, { event: 'ack', id, error: { code, message } });
    else this.#send(connection, { event: 'error', data: { code, message } });
  }

  /**
   * Closes with a close frame. `cut` (a slow reader) also destroys the socket at once: its unsent
   * data is what must be freed, and a close frame queued behind it would never be read.
   */
  #closeConnection(connection: Connection, code: number, reason: string, cut = false): void {
    if (connection.closedWith !== undefined) return;
    connection.closedWith = code;
    const socket = connection.socket;
    socket.close(code, reason);
    if (cut) socket.terminate();
  }

  #heartbeat(): void {
    this.#rate.prune();
    this.#recovery.prune();
    for (const connection of this.#connections) {
      if (connection.closedWith !== undefined) {
        // Closed by the hub an interval ago and still not gone: its peer does not answer the close.
        connection.socket.terminate();
        continue;
      }
      if (!connection.alive) {
        this.#stats.heartbeatsMissed++;
        this.#closeConnection(connection, CloseCode.HEARTBEAT, 'missed heartbeat');
        continue;
      }
      connection.alive = false;
      connection.socket.ping();
    }
  }
}

function parseSince(value: unknown): { epoch: string; offset: number } | undefined {
  if (value === undefined) return undefined;
  const { epoch, offset } = (value ?? {}) as { epoch?: unknown; offset?: unknown };
  if (typeof epoch !== 'string' || !Number.isSafeInteger(offset) || (offset as number) < 0) {
    throw badWsMessage("'since' must be { epoch: string, offset: integer >= 0 }");
  }
  return { epoch, offset: offset as number };
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
