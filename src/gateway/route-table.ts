/**
 * The gateway's one router: every service's published routes under that service's prefix, matched
 * by the service layer's router (find-my-way; HEAD falls back to GET, 405 with Allow, malformed
 * urls 400, long ones 414). Two services claiming the same method and path pattern clash: the
 * service seen first keeps the route and the clash is reported in one line naming both.
 */
import { createRouter, type Router } from '../service/router.js';
import type { GatewayRoute, PublishedRoute } from './route-types.js';

/** What a matched route forwards to. */
export interface RouteTarget {
  readonly service: string;
  /** The service's prefix ('' without one): stripped from the url before forwarding. */
  readonly prefix: string;
  readonly route: GatewayRoute;
}

export interface RouteTable {
  readonly router: Router<RouteTarget>;
  /** Every route served, in the order of the services. */
  readonly routes: readonly GatewayRoute[];
  /** One line per clash. */
  readonly conflicts: readonly string[];
}

/** `prefix` joined with a service path: ('/api/users', '/users/:id') → '/api/users/users/:id'; ('/api', '/') → '/api'. */
export function joinPrefix(prefix: string, path: string): string {
  if (prefix === '') return path;
  return path === '/' ? prefix : `${prefix}${path}`;
}

/** A path pattern with its parameter names erased: '/users/:id' and '/users/:name' are the same pattern. */
function patternOf(path: string): string {
  return path.replace(/\/:[^/]+/g, '/:');
}

/**
 * Builds the table from each service's routes (in the map's order: the first service keeps a
 * route claimed twice) and the prefixes by service name.
 */
export function buildRouteTable(
  services: ReadonlyMap<string, readonly PublishedRoute[]>,
  prefixes: Readonly<Record<string, string>>,
): RouteTable {
  const owners = new Map<string, GatewayRoute>();
  const table: Record<string, RouteTarget> = {};
  const routes: GatewayRoute[] = [];
  const conflicts: string[] = [];
  for (const [service, published] of services) {
    const prefix = prefixes[service] ?? '';
    for (const route of published) {
      const httpPath = joinPrefix(prefix, route.path);
      const gatewayRoute: GatewayRoute = { ...route, service, httpPath };
      const key = `${route.method} ${patternOf(httpPath)}`;
      const owner = owners.get(key);
      if (owner !== undefined) {
        if (owner.service !== service) conflicts.push(clash(owner, gatewayRoute));
        continue;
      }
      owners.set(key, gatewayRoute);
      table[`${route.method} ${httpPath}`] = { service, prefix, route: gatewayRoute };
      routes.push(gatewayRoute);
    }
  }
  return { router: buildRouter(table, conflicts), routes, conflicts };
}

function clash(owner: GatewayRoute, other: GatewayRoute): string {
  return (
    `route ${other.method} ${other.httpPath} of service '${other.service}' clashes with ${owner.method} ${owner.httpPath} of service ` +
    `'${owner.service}' (kept): give one of them a prefix (gateway.prefixes)`
  );
}

/**
 * The router of the table; a route the router itself refuses (a clash find-my-way sees and the
 * pattern check does not, such as two parameters with different regular expressions) is left
 * out and reported.
 */
function buildRouter(table: Record<string, RouteTarget>, conflicts: string[]): Router<RouteTarget> {
  try {
    return createRouter(table);
  } catch {
    const kept: Record<string, RouteTarget> = {};
    for (const [key, target] of Object.entries(table)) {
      try {
        createRouter({ ...kept, [key]: target });
        kept[key] = target;
      } catch (error) {
        conflicts.push(`route ${key} of service '${target.service}' is left out: ${(error as Error).message}`);
      }
    }
    return createRouter(kept);
  }
}
