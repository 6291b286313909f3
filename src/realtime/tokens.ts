/**
 * HMAC tokens: channel tokens (a client proves the app's server let it join a private or presence
 * channel) and user tokens (the hub's built-in authentication, usable without code of one's own).
 *
 *   channel token = base64url(HMAC-SHA256(secret, connectionId + ':' + channel))
 *   user token    = base64url(userId) + '.' + base64url(HMAC-SHA256(secret, 'user:' + userId))
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

function mac(secret: string, text: string): Buffer {
  return createHmac('sha256', secret).update(text, 'utf8').digest();
}

function equalMac(expected: Buffer, presented: string): boolean {
  const bytes = Buffer.from(presented, 'base64url');
  return bytes.length === expected.length && timingSafeEqual(bytes, expected);
}

/** The token that lets connection `connectionId` join `channel`. */
export function signChannel(secret: string, connectionId: string, channel: string): string {
  return mac(secret, `${connectionId}:${channel}`).toString('base64url');
}

export function verifyChannelToken(secret: string, connectionId: string, channel: string, token: unknown): boolean {
  return typeof token === 'string' && token.length <= 100 && equalMac(mac(secret, `${connectionId}:${channel}`), token);
}

/** A token that authenticates `userId` with the hub's built-in scheme (`auth.secret` in the config). */
export function signUserToken(secret: string, userId: string): string {
  return `${Buffer.from(userId, 'utf8').toString('base64url')}.${mac(secret, `user:${userId}`).toString('base64url')}`;
}

/** The user id a user token names, or undefined when it is malformed or its signature is wrong. */
export function verifyUserToken(secret: string, token: unknown): string | undefined {
  if (typeof token !== 'string' || token.length > 1024) return undefined;
  const dot = token.indexOf('.');
  if (dot <= 0) return undefined;
  const userId = Buffer.from(token.slice(0, dot), 'base64url').toString('utf8');
  if (userId.length === 0 || !equalMac(mac(secret, `user:${userId}`), token.slice(dot + 1))) return undefined;
  return userId;
}
