/**
 * `startGateway()`: resolves the gateway's config (the options, environment overrides on top),
 * follows the services in the socket directory, and listens on HTTP once their routes are known.
 * The request pipeline is core.ts; docs/gateway.md is the normative description.
 */

import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  endpointPath,
  type GatewayConfig,
  METRICS_PATH,
  OPENAPI_PATH,
  type ResolvedGatewayConfig,
  resolveGatewayConfig,
} from '../config/gateway.js';
import { invalidRoute } from '../errors.js';
import { resolveSocketDir } from '../service/socket-dir.js';
import { onClientError } from './client-errors.js';
import { GatewayCore } from './core.js';
import { drainable } from './drain.js';
import { GatewayLog } from './gateway-log.js';
import { type InjectRequest, type InjectResponse, inject } from './inject.js';
import type { GatewayMetrics } from './metrics.js';
import { openapiEndpoint } from './openapi.js';
import type { GatewayRoute } from './route-types.js';
import { createSecureGateway, http1Limits, readTlsMaterial, serveHttp1, type TlsMaterial } from './tls.js';
import { forwardUpgrades } from './ws-forward.js';

export type { InjectRequest, InjectResponse } from './inject.js';

export interface GatewayOptions extends GatewayConfig {
  /** The socket directory of the services (as for the service client). */
  socketDir?: string | undefined;
  /** Environment overrides (HTTP_PORT, …) are read from here (default: none; `warren gateway` passes process.env). */
  env?: NodeJS.ProcessEnv | undefined;
  /** Log lines go here instead of stdout or logDir (tests). */
  logDestination?: NodeJS.WritableStream | undefined;
  /** Reject start-up when two services claim the same route (default true). */
  failOnConflict?: boolean;
}

export interface Gateway {
  /** `http://host:port`, or `https://host:port` with tls */
  readonly url: string;
  readonly address: AddressInfo;
  readonly config: ResolvedGatewayConfig;
  /** The routes served now. */
  routes(): readonly GatewayRoute[];
  /** Resolves once the first scan is done and every instance found has told its routes. */
  ready(): Promise<void>;
  inject(request: InjectRequest): Promise<InjectResponse>;
  /** With tls: reads the certificate and key files again for new connections (SIGHUP); false, logged, when they cannot be used (the old ones stay). Without tls: false. */
  reloadTls(): Promise<boolean>;
  /**
   * Stops accepting, answers the requests in progress and those that arrive on open connections
   * within a second (with `Connection: close`), closes idle connections after that second, then
   * closes the pools.
   */
  close(): Promise<void>;
}

/**
 * Starts the gateway.
 * @example
 * const gateway = await startGateway({ port: 8080, prefixes: { users: '/api/users' } });
 * const res = await fetch(`${gateway.url}/api/users/users/42`);
 */
export async function startGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const { socketDir, env, logDestination, failOnConflict = true, ...section } = options;
  const config = resolveGatewayConfig(section, env ?? {});
  const log = new GatewayLog({ level: config.logLevel, logDir: config.logDir, accessLog: config.accessLog, destination: logDestination });
  const core = new GatewayCore(config, log, resolveSocketDir(socketDir));
  await core.follower.ready;
  if (failOnConflict && core.table.conflicts.length > 0) {
    core.close();
    await log.close();
    throw invalidRoute(`the gateway's routes clash: ${core.table.conflicts.join('; ')}`, { data: { conflicts: core.table.conflicts } });
  }
  let material: TlsMaterial | undefined;
  if (config.tls !== undefined) {
    try {
      material = await readTlsMaterial(config.tls);
    } catch (error) {
      core.close();
      await log.close();
      throw error;
    }
  }
  const metrics = await addBuiltInEndpoints(config, core);
  const secure = material === undefined ? undefined : createSecureGateway(config, core, material, metrics);
  const server = secure?.server ?? createHttpServer(config, core, metrics);
  // TLS connections are followed once their handshake is done; HTTP/2 ones are closed by secure.closeSessions().
  const drain = drainable(server, secure === undefined ? 'connection' : 'secureConnection');
  // Upgrades come on HTTP/1.1 connections only (WebSockets over HTTP/2, RFC 8441, are not offered).
  const upgrades = forwardUpgrades(server as Server, config, log);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  core.markListening();
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${secure === undefined ? 'http' : 'https'}://${host}:${address.port}`;
  const protocols = secure === undefined ? undefined : config.http2 === false ? 'http/1.1' : 'h2, http/1.1';
  log.event('info', `gateway listening on ${url}`, { url, routes: core.table.routes.length, ...(protocols && { protocols }) });
  let closing: Promise<void> | undefined;
  return {
    url,
    address,
    config,
    routes: () => core.table.routes,
    ready: () => core.follower.ready,
    inject: (request) => inject(core, request),
    reloadTls: () => secure?.reload() ?? Promise.resolve(false),
    close: () => {
      secure?.closeSessions();
      // Forwarded WebSockets never end by themselves: the drain would wait for them.
      upgrades?.close();
      closing ??= drain.drain().then(() => {
        core.close();
        return log.close();
      });
      return closing;
    },
  };
}

/** /metrics and /openapi.json, where the config serves them (prom-client is only loaded for the metrics). */
async function addBuiltInEndpoints(config: ResolvedGatewayConfig, core: GatewayCore): Promise<GatewayMetrics | undefined> {
  const openapi = endpointPath(config.openapi, OPENAPI_PATH);
  if (openapi !== undefined) core.addEndpoint(openapi, openapiEndpoint(core));
  const path = endpointPath(config.metrics, METRICS_PATH);
  if (path === undefined) return undefined;
  const { GatewayMetrics } = await import('./metrics.js');
  const metrics = new GatewayMetrics(core);
  core.addEndpoint(path, metrics.endpoint);
  return metrics;
}

/** The HTTP/1.1 server, with the limits that keep slow or oversized clients from holding the gateway. */
function createHttpServer(config: ResolvedGatewayConfig, core: GatewayCore, metrics: GatewayMetrics | undefined): Server {
  const server = createServer({ ...http1Limits(config), noDelay: true }, (req, res) => serveHttp1(core, metrics, req, res));
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => onClientError(error, socket));
  return server;
}
