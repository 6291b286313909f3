/**
 * The hub's wire vocabulary (normative text: docs/realtime.md): close codes, subprotocols,
 * reserved events and how a channel's name decides its kind.
 */

/** Close codes the hub sends (RFC 6455 ones and Warren's 4xxx). */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  POLICY: 1008,
  TOO_BIG: 1009,
  INTERNAL: 1011,
  /** No pong arrived within one heartbeat interval. */
  HEARTBEAT: 4001,
  /** Undecodable messages, repeatedly. */
  BAD_PROTOCOL: 4002,
  /** The connection's unsent data went over the write buffer limit. */
  SLOW_READER: 4008,
} as const;

export const SUBPROTOCOL_JSON = 'warren.json';
export const SUBPROTOCOL_MSGPACK = 'warren.msgpack';
export type FormatName = 'json' | 'msgpack';

/** The format a subprotocol names, or undefined for one the hub does not speak. */
export function formatOfSubprotocol(protocol: string): FormatName | undefined {
  if (protocol === SUBPROTOCOL_JSON) return 'json';
  if (protocol === SUBPROTOCOL_MSGPACK) return 'msgpack';
  return undefined;
}

export type ChannelKind = 'public' | 'private' | 'presence' | 'user';

/** Channel names: 1 to 200 characters of letters, digits and `_-=@,.;:`. */
export const CHANNEL_NAME_PATTERN = /^[A-Za-z0-9_\-=@,.;:]{1,200}$/;

export function isChannelName(value: unknown): value is string {
  return typeof value === 'string' && CHANNEL_NAME_PATTERN.test(value);
}

/** The kind a channel's name gives it: `private-*`, `presence-*`, `user.<id>`, anything else public. */
export function channelKind(channel: string): ChannelKind {
  if (channel.startsWith('private-')) return 'private';
  if (channel.startsWith('presence-')) return 'presence';
  if (channel.startsWith('user.')) return 'user';
  return 'public';
}

/** The channel that reaches every connection of a user. */
export function userChannel(userId: string): string {
  return `user.${userId}`;
}

/** Events the hub handles itself; a client cannot send them as its own events. */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set(['subscribe', 'unsubscribe', 'ack', 'error', 'connected', 'ping', 'pong']);

/** Client events relayed to the other members of private and presence channels. */
export const CLIENT_EVENT_PREFIX = 'client-';

/** One message on the socket, either way. */
export interface WireMessage {
  event: string;
  channel?: string;
  data?: unknown;
  id?: number;
  offset?: number;
  error?: { code: string; message: string };
}
