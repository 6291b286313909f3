/**
 * What a client sends: each message is decoded and checked, then goes to subscribe, unsubscribe,
 * a relayed client event or the server's handler; what that returns (or throws) answers the
 * client's ack. Too many undecodable messages close the connection (4002).
 */
import { badWsMessage, forbidden, isWarrenError, noHandler, notSubscribed, remoteError, type WarrenError } from '../errors.js';
import type { Connection } from './connection.js';
import { decode } from './format.js';
import type { Publish } from './membership.js';
import { closeConnection, type Outbound } from './outbound.js';
import { CLIENT_EVENT_PREFIX, CloseCode, channelKind, isChannelName, RESERVED_EVENTS, type WireMessage } from './protocol.js';
import type { Subscriptions } from './subscribe.js';

/** What a server-side event handler gets besides the data. */
export interface EventContext {
  connection: Connection;
  /** The channel the message named, if any (the client is subscribed to it). */
  channel: string | undefined;
}

/** A handler of client events; what it returns (or resolves to) answers the client's ack. */
export type EventHandler = (data: unknown, context: EventContext) => unknown;

export interface DispatcherParts {
  maxBadMessages: number;
  outbound: Outbound;
  subscriptions: Subscriptions;
  publish: Publish;
}

export class Dispatcher {
  readonly #parts: DispatcherParts;
  readonly #handlers = new Map<string, EventHandler>();

  constructor(parts: DispatcherParts) {
    this.#parts = parts;
  }

  /** Sets the handler of `event` (see Hub.on); returns its remover. */
  on(event: string, handler: EventHandler): () => void {
    if (RESERVED_EVENTS.has(event)) throw badWsMessage(`event '${event}' is reserved by the hub`);
    this.#handlers.set(event, handler);
    return () => {
      if (this.#handlers.get(event) === handler) this.#handlers.delete(event);
    };
  }

  receive(connection: Connection, bytes: Buffer, isBinary: boolean): void {
    // Any message shows the client alive, as a pong would.
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
    const { subscriptions } = this.#parts;
    let outcome: unknown;
    try {
      if (event === 'subscribe') outcome = subscriptions.subscribe(connection, message);
      else if (event === 'unsubscribe') outcome = subscriptions.unsubscribe(connection, message);
      else if (RESERVED_EVENTS.has(event)) throw badWsMessage(`event '${event}' is reserved`);
      else outcome = this.#clientEvent(connection, message);
    } catch (error) {
      this.#answerError(connection, id, error);
      return;
    }
    Promise.resolve(outcome).then(
      (data) => {
        if (id !== undefined) this.#parts.outbound.send(connection, { event: 'ack', id, data });
      },
      (error) => this.#answerError(connection, id, error),
    );
  }

  #badMessage(connection: Connection, id: number | undefined, reason: string): void {
    this.#answerError(connection, id, badWsMessage(reason));
    if (++connection.badMessages >= this.#parts.maxBadMessages) closeConnection(connection, CloseCode.BAD_PROTOCOL, 'bad messages');
  }

  /** A `client-` event on a private or presence channel is relayed to its other members; any other goes to its handler. */
  async #clientEvent(connection: Connection, message: WireMessage): Promise<unknown> {
    const { event, channel } = message;
    if (channel !== undefined && !connection.in(channel)) throw notSubscribed(`not subscribed to ${channel}`);
    if (channel !== undefined && event.startsWith(CLIENT_EVENT_PREFIX)) {
      const kind = channelKind(channel);
      if (kind !== 'private' && kind !== 'presence')
        throw forbidden(`client events are relayed on private and presence channels only, not ${channel}`);
      this.#parts.publish(channel, event, message.data, connection.id);
      return undefined;
    }
    const handler = this.#handlers.get(event);
    if (handler === undefined) throw noHandler(`no handler for event '${event}'`);
    return handler(message.data, { connection, channel });
  }

  #answerError(connection: Connection, id: number | undefined, error: unknown): void {
    const known = isWarrenError(error) || (error instanceof Error && typeof (error as { code?: unknown }).code === 'string');
    const code = known ? (error as WarrenError).code : remoteError('').code;
    const message = error instanceof Error ? error.message : String(error);
    if (id !== undefined) this.#parts.outbound.send(connection, { event: 'ack', id, error: { code, message } });
    else this.#parts.outbound.send(connection, { event: 'error', data: { code, message } });
  }
}
