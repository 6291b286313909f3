/**
 * Channel names as NATS subjects: `<prefix>.<token>`, one token per channel. A NATS token may not
 * hold `.`, `*`, `>` or whitespace, and `user.42` holds a dot, so a channel becomes its token by
 * keeping letters, digits, `_`, `-` and `:` and writing every other byte of its UTF-8 as `~XX`
 * (hex). `~` is escaped too, so the mapping is one-to-one and `decodeChannel` reverses it:
 * `user.42` → `user~2E42`, `room:lobby` → `room:lobby`.
 */
import { invalidArgument } from '../../errors.js';

export const DEFAULT_NATS_PREFIX = 'warren.ws';

/** One or more tokens separated by dots, none empty, no wildcard, no whitespace. */
export const NATS_PREFIX_PATTERN = /^[^\s.*>]+(\.[^\s.*>]+)*$/;

const KEPT = /^[A-Za-z0-9_:-]$/;

/** The subject token of `channel`. */
export function encodeChannel(channel: string): string {
  let token = '';
  for (const char of channel) {
    if (KEPT.test(char)) {
      token += char;
      continue;
    }
    for (const byte of Buffer.from(char, 'utf8')) token += `~${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return token;
}

/** The channel of a subject token (encodeChannel's inverse), or undefined when `token` is not one. */
export function decodeChannel(token: string): string | undefined {
  if (!/^(?:[A-Za-z0-9_:-]|~[0-9A-F]{2})+$/.test(token)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '~') {
      bytes.push(Number.parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(token.charCodeAt(i));
  }
  const channel = Buffer.from(bytes).toString('utf8');
  // A byte sequence that is not UTF-8 decodes to U+FFFD, and no longer encodes to the same token.
  return encodeChannel(channel) === token ? channel : undefined;
}

/** The prefix, checked: `warren.ws` when not given. */
export function resolveNatsPrefix(prefix: string | undefined): string {
  const value = prefix ?? DEFAULT_NATS_PREFIX;
  if (typeof value !== 'string' || !NATS_PREFIX_PATTERN.test(value)) {
    throw invalidArgument(
      `NATS prefix ${JSON.stringify(value)} is not a subject prefix: dot-separated tokens without spaces, '*' or '>' (e.g. warren.ws)`,
    );
  }
  return value;
}

/** The subject a channel's broadcasts travel on. */
export function subjectOf(prefix: string, channel: string): string {
  return `${prefix}.${encodeChannel(channel)}`;
}
