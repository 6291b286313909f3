export { loadOrCreateToken, readToken, rotateToken, TOKEN_FILE, TokenVerifier } from './auth.js';
export { decodeCall, decodeReply, encodeCall, encodeReply } from './call-format.js';
export type { CallOptions, ClientOptions, InstanceMetrics, InstanceStats } from './client.js';
export { ServiceClient, ServiceHandle } from './client.js';
export type {
  AnyRoute,
  ContractSchemas,
  PathOf,
  PathParamNames,
  QueryInput,
  QueryValue,
  RouteDescriptor,
  ServiceContract,
  TypedCallInput,
  TypedService,
} from './contract.js';
export { buildUrl, route, ServiceCallError, serviceContract } from './contract.js';
export type {
  AuthInfo,
  ContractHandler,
  ContractRouteInput,
  ContractRouteSpec,
  ContractServiceInput,
  ControllerClass,
  Hooks,
  ParamsOfKey,
  RouteContext,
  RouteHandler,
  RouteInput,
  RouteInputFor,
  RouteOptions,
  RouteSchemas,
  RouteSpec,
  ScopeDefinition,
  ServiceDefinition,
  ServiceDefinitionInput,
  ServiceRequest,
  ServiceResponse,
  TypedRoutes,
} from './define.js';
export { defineService, Reply, reply } from './define.js';
export type { Instance } from './discovery.js';
export { InstanceWatcher, listInstances, watchInstances, watchServices } from './discovery.js';
export { Dispatcher, forbidden, ServiceError } from './dispatch.js';
export type { InternalErrorHandler } from './internal-error-log.js';
export type { MetricsSnapshot, RouteStats } from './metrics.js';
export { LatencyHistogram, RouteMetrics } from './metrics.js';
export type { NatsOptions, Transport } from './nats/options.js';
export { DEFAULT_NATS_URL, NATS_ENV, TRANSPORT_ENV } from './nats/options.js';
export type { FdCondition, HelloParams, HelloResult, ServiceProcessMessage } from './protocol.js';
export { parseActivateMessage, parseServiceMessage, serviceMethods } from './protocol.js';
export type { JsonSchema, PublishedRoute } from './published-routes.js';
export { publishRoutes } from './published-routes.js';
export { errorResponse } from './response.js';
export { createRouter } from './router.js';
export type { ActivateMessage, ReadyMessage, ReportMessage, RunOptions, StandbyMessage } from './run.js';
export {
  INSTANCE_ENV,
  instanceFromEnv,
  NODE_APP_INSTANCE_ENV,
  REPORT_INTERVAL_ENV,
  runService,
  SOCKET_ID_ENV,
  STANDBY_ENV,
  socketIdFromEnv,
} from './run.js';
export type { PreparedService, ServeOptions, ServiceServer } from './server.js';
export { prepareService, SERVICE_METHODS, ServiceInstance, serveService } from './server.js';
export { checkSocketDir, ensureSocketDir, parseSocketName, resolveSocketDir, SOCKET_DIR_ENV, socketPathFor } from './socket-dir.js';
export type { StreamChunk } from './streamed.js';
export { streamed } from './streamed.js';
