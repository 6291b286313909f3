/** A JSON Schema object as zod's z.toJSONSchema() produces it. */
export type JsonSchema = Record<string, unknown>;

/** One route as a service publishes it through `warren.routes` (docs/protocol.md §13.5). */
export interface PublishedRoute {
  /** Upper-case HTTP method. */
  method: string;
  /** The route's path pattern as the service declares it, e.g. `/users/:id`. */
  path: string;
  /** JSON Schemas of the route's zod schemas, when it declares them. */
  schema?: { params?: JsonSchema; query?: JsonSchema; body?: JsonSchema; response?: JsonSchema };
}

/** A route as the gateway serves it: a service's route under that service's prefix. */
export interface GatewayRoute extends PublishedRoute {
  /** The service that answers it. */
  service: string;
  /** The path the gateway matches: the service's prefix joined with `path`. */
  httpPath: string;
}
