/**
 * The handshake pipeline. ws carries the sockets in noServer mode; the hub decides each upgrade
 * itself first (shutting down, origin, per-IP rate, subprotocol, identity), so a refused client
 * gets a plain HTTP answer and never an upgraded socket.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { isWarrenError, type WarrenError } from '../errors.js';
import { Connection } from './connection.js';
import { chooseFormat, clientAddress, type Identity, originAllowed, refuseUpgrade } from './handshake.js';
import type { ResolvedHubOptions } from './options.js';
import { isChannelName } from './protocol.js';
import { ConnectionRateLimiter } from './rate-limit.js';

type UpgradeOptions = Pick<
  ResolvedHubOptions,
  'maxMessageSize' | 'perMessageDeflate' | 'allowedOrigins' | 'connectionRate' | 'defaultFormat' | 'authenticate'
>;

/** What the hub does with a socket that passed the handshake. */
export type Accept = (connection: Connection, format: Connection['format'], identity: Identity | undefined) => void;

/** The subprotocol chosen before the upgrade, carried on the request to ws's `handleProtocols`. */
type ChosenRequest = IncomingMessage & { warrenProtocol?: string | undefined };

export class Upgrader {
  /** Handshakes refused, by HTTP status. */
  readonly refused: Record<number, number> = {};
  readonly #options: UpgradeOptions;
  readonly #wss: WebSocketServer;
  readonly #rate: ConnectionRateLimiter;
  readonly #closing: () => boolean;
  readonly #accept: Accept;

  constructor(options: UpgradeOptions, closing: () => boolean, accept: Accept) {
    this.#options = options;
    this.#closing = closing;
    this.#accept = accept;
    this.#rate = new ConnectionRateLimiter(options.connectionRate);
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxMessageSize,
      perMessageDeflate: options.perMessageDeflate,
      clientTracking: false,
      WebSocket: Connection,
      // The subprotocol was chosen before the upgrade (see handle); ws only echoes it.
      handleProtocols: (protocols, req) => (req as ChosenRequest).warrenProtocol ?? protocols.values().next().value ?? false,
    });
  }

  /** Forgets the per-IP counts that no longer limit anything (every heartbeat). */
  prune(): void {
    this.#rate.prune();
  }

  /** Runs the handshake pipeline for an upgrade request and upgrades it when it passes. */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const o = this.#options;
    if (this.#closing()) {
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
    (req as ChosenRequest).warrenProtocol = chosen.protocol;
    const upgrade = (identity: Identity | undefined) => {
      if (socket.destroyed) return;
      // Checked again: the hub may have begun closing while authenticate ran.
      if (this.#closing()) {
        this.#refuse(socket, 503, 'the hub is shutting down');
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws: WebSocket) => this.#accept(ws as Connection, chosen.format, identity));
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

  #refuse(socket: Duplex, status: number, message: string, headers?: Record<string, string>): void {
    this.refused[status] = (this.refused[status] ?? 0) + 1;
    refuseUpgrade(socket, status, message, headers);
  }

  #refuseAuth(socket: Duplex, error: unknown): void {
    const status = isWarrenError(error) && (error as WarrenError & { status?: number }).status === 403 ? 403 : 401;
    this.#refuse(socket, status, status === 403 ? 'forbidden' : 'authentication failed');
  }
}
