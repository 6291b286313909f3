/**
 * The hub's Unix socket (`hub.sock` in the socket directory): other processes on the machine
 * (services, scripts, `warren emit`) publish broadcasts through it. A Warren peer with the
 * services' token: a connection says `hub.hello { token }` once, then sends `hub.emit`
 * notifications (fire-and-forget) or requests (answered with the channel's member count here).
 */
import { join } from 'node:path';
import { invalidArgument, UnauthorizedError } from '../errors.js';
import type { Peer } from '../peer/peer.js';
import { listenUnix, type PeerServer } from '../peer/transports/socket.js';
import { loadOrCreateToken, TokenVerifier } from '../service/auth.js';
import { acceptHello } from '../service/hello.js';
import { ensureSocketDir } from '../service/socket-dir.js';
import type { Hub } from './hub.js';
import { isChannelName } from './protocol.js';

export const HUB_SOCKET = 'hub.sock';

export const HubMethods = {
  hello: 'hub.hello',
  emit: 'hub.emit',
} as const;

/** What a `hub.emit` carries. */
export interface EmitParams {
  channel: string;
  event: string;
  data?: unknown;
}

/** The emit in `params`, or a one-line reason why it is not one. */
export function parseEmit(params: unknown): EmitParams | string {
  if (typeof params !== 'object' || params === null) return 'hub.emit needs { channel, event, data? }';
  const { channel, event, data } = params as Record<string, unknown>;
  if (!isChannelName(channel)) return `channel ${JSON.stringify(channel)} is not a valid channel name`;
  if (typeof event !== 'string' || event.length === 0 || event.length > 200) return "'event' must be a string of 1 to 200 characters";
  return { channel, event, data };
}

/** Listens on `<socketDir>/hub.sock` for broadcasts to `hub`. */
export async function listenHubSocket(hub: Hub, socketDir: string): Promise<PeerServer> {
  const dir = await ensureSocketDir(socketDir);
  await loadOrCreateToken(dir);
  const verifier = new TokenVerifier(dir);
  return listenUnix(join(dir, HUB_SOCKET), (peer: Peer) => {
    const hello = acceptHello(peer, { method: HubMethods.hello, verifier, onTrusted: () => ({ hub: hub.id }) });
    const emit = (params: unknown): number => {
      if (!hello.trusted) throw new UnauthorizedError('say hub.hello with the token first');
      const parsed = parseEmit(params);
      if (typeof parsed === 'string') throw invalidArgument(parsed);
      hub.publish(parsed.channel, parsed.event, parsed.data);
      return hub.memberCount(parsed.channel);
    };
    peer.onRequest(HubMethods.emit, (params) => ({ members: emit(params) }));
    peer.onNotify(HubMethods.emit, (params) => {
      try {
        emit(params);
      } catch (error) {
        // A notification has no answer: an untrusted or broken sender is cut off.
        peer.destroy(error as Error);
      }
    });
  });
}
