/** `warren/gateway`: every service's routes over HTTP (docs/gateway.md). */
export type { GatewayConfig, ResolvedGatewayConfig } from '../config/gateway.js';
export { GATEWAY_DEFAULTS, GATEWAY_ENV_VARS, gatewayConfigSchema, resolveGatewayConfig } from '../config/gateway.js';
export type { Gateway, GatewayOptions, InjectRequest, InjectResponse } from './gateway.js';
export { startGateway } from './gateway.js';
export type { RouteTable, RouteTarget } from './route-table.js';
export { buildRouteTable } from './route-table.js';
export type { GatewayRoute, JsonSchema, PublishedRoute } from './route-types.js';
