/**
 * `gateway.websocket`: the path whose WebSocket upgrades the gateway forwards to the hub, so one
 * port serves HTTP and WebSockets (docs/gateway.md, "WebSocket forwarding"). Without `hub`, the
 * hub is where the realtime section says it listens (WS_HOST / WS_PORT over the section's
 * host / port, then 127.0.0.1:6001); without `path`, the realtime section's path (then /ws).
 */
import { z } from 'zod';
import { REALTIME_DEFAULTS, resolveRealtimeConfig } from './realtime.js';

export const WEBSOCKET_DEFAULTS = Object.freeze({ path: '/ws', maxSockets: 10_000 });

/** `host:port`, `[v6]:port`, or an absolute Unix socket path. */
const HUB_ADDRESS = /^(\/.+|(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5})$/;
const hubError = 'expected the hub\'s address as "host:port" or an absolute Unix socket path (e.g. "127.0.0.1:6001")';
const pathError = 'expected a path starting with "/", without "?", "#" or spaces (e.g. "/ws")';

export const gatewayWebSocketSchema = z.strictObject(
  {
    path: z
      .string({ error: pathError })
      .regex(/^\/[^?#\s]*$/, { error: pathError })
      .default(WEBSOCKET_DEFAULTS.path),
    hub: z.string({ error: hubError }).regex(HUB_ADDRESS, { error: hubError }).optional(),
    maxSockets: z
      .int({ error: 'expected a whole number of WebSocket connections from 1 to 1000000' })
      .min(1, { error: 'expected a whole number of WebSocket connections from 1 to 1000000' })
      .max(1_000_000, { error: 'expected a whole number of WebSocket connections from 1 to 1000000' })
      .default(WEBSOCKET_DEFAULTS.maxSockets),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? undefined : 'expected an object { path?, hub?, maxSockets? }') },
);

/** Where the forwarded connections go: a TCP address or a Unix socket path. */
export type HubAddress = { readonly path: string } | { readonly host: string; readonly port: number };

/** The address of a `hub` string the schema accepted. */
export function parseHubAddress(text: string): HubAddress {
  if (text.startsWith('/')) return { path: text };
  const colon = text.lastIndexOf(':');
  const host = text.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(text.slice(colon + 1)) };
}

/** An address as people write it (`127.0.0.1:6001`, `[::1]:6001`, `/run/hub.ws.sock`). */
export function formatHubAddress(address: HubAddress): string {
  if ('path' in address) return address.path;
  return `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}

/**
 * Where the hub of a realtime section listens (its host and port with WS_HOST / WS_PORT, and their
 * WARREN_ forms, over them) and its path. A section the hub itself would refuse gives the
 * defaults here: the hub process reports the problem.
 */
export function hubOf(realtimeSection: unknown, env: NodeJS.ProcessEnv = {}): { hub: string; path: string } {
  let host: string = REALTIME_DEFAULTS.host;
  let port: number = REALTIME_DEFAULTS.port;
  let path: string = REALTIME_DEFAULTS.path;
  try {
    ({ host, port, path } = resolveRealtimeConfig(realtimeSection, env));
  } catch {
    // The hub refuses to start with it, and says why; nothing to add here.
  }
  // A hub listening on every address is reached on the loopback one.
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return { hub: formatHubAddress({ host, port }), path };
}

/** Where the hub listens, as `hubOf`. */
export function hubAddressOf(realtimeSection: unknown, env: NodeJS.ProcessEnv = {}): string {
  return hubOf(realtimeSection, env).hub;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The gateway section with `websocket.hub` and `websocket.path` filled in from the realtime
 * section when they are left out (`warren gateway` does this with the config file's sections and
 * its environment): the request line is replayed as it came, so the paths must be the same.
 */
export function withHubDefault(gatewaySection: unknown, realtimeSection: unknown, env: NodeJS.ProcessEnv = {}): unknown {
  if (!isObject(gatewaySection) || !isObject(gatewaySection.websocket)) return gatewaySection;
  const { hub, path } = gatewaySection.websocket;
  if (hub !== undefined && path !== undefined) return gatewaySection;
  const defaults = hubOf(realtimeSection, env);
  return { ...gatewaySection, websocket: { ...gatewaySection.websocket, hub: hub ?? defaults.hub, path: path ?? defaults.path } };
}
