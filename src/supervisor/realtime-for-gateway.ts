/**
 * What the gateway process needs to know of the `realtime` section: where the hub it forwards
 * WebSockets to listens (`gateway.websocket` without `hub`, docs/gateway.md). The supervisor
 * passes the section as JSON in WARREN_REALTIME_CONFIG; `warren gateway` resolves it with its own
 * environment (WS_HOST / WS_PORT over the file), as the hub process does.
 */
import type { ResolvedService } from './config.js';
import { GATEWAY_SERVICE } from './gateway-service.js';

/** Environment variable the gateway process reads the realtime section from (src/cli/gateway.ts). */
export const REALTIME_CONFIG_ENV = 'WARREN_REALTIME_CONFIG';

/** Gives the gateway process in `services` (if any) the realtime section (if any), in place. */
export function passRealtimeToGateway(services: ResolvedService[], realtime: unknown): void {
  if (realtime === undefined || realtime === null) return;
  const index = services.findIndex((service) => service.name === GATEWAY_SERVICE);
  const gateway = services[index];
  if (gateway === undefined) return;
  services[index] = Object.freeze({ ...gateway, env: Object.freeze({ ...gateway.env, [REALTIME_CONFIG_ENV]: JSON.stringify(realtime) }) });
}
