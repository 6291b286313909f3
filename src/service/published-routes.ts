/**
 * What `warren.routes` answers (docs/protocol.md §13.5): a service's routes, one per method, with
 * the JSON Schemas of their zod schemas, so that an HTTP front can route to the service and
 * document it. Computed once per process, on the first request: zod is only loaded then, so a
 * service nobody asks pays nothing for it.
 */
import type { ZodType } from 'zod';
import type { ResolvedRoute } from './define.js';
import { parseRouteKey } from './router.js';

/** A JSON Schema object as zod's z.toJSONSchema() produces it. */
export type JsonSchema = Record<string, unknown>;

/** One route as published (the same shape as the gateway's PublishedRoute). */
export interface PublishedRoute {
  /** Upper-case HTTP method. */
  method: string;
  /** The path pattern as declared, e.g. `/users/:id`. */
  path: string;
  /** JSON Schemas of the route's zod schemas, when it declares them and they convert. */
  schema?: { params?: JsonSchema; query?: JsonSchema; body?: JsonSchema; response?: JsonSchema };
}

type ToJsonSchema = (schema: ZodType, options: { io: 'input' }) => JsonSchema;

/** The routes of a service as published; a schema that cannot be converted (a date, a transform) is left out. */
export async function publishRoutes(routes: readonly ResolvedRoute<unknown>[]): Promise<PublishedRoute[]> {
  const needsZod = routes.some((route) => route.schema !== undefined);
  const toJsonSchema = needsZod ? ((await import('zod')).z.toJSONSchema as unknown as ToJsonSchema) : undefined;
  const published: PublishedRoute[] = [];
  for (const route of routes) {
    const schema = route.schema && toJsonSchema ? convert(route.schema, toJsonSchema) : undefined;
    for (const method of parseRouteKey(route.key).methods) {
      published.push(schema === undefined ? { method, path: route.path } : { method, path: route.path, schema });
    }
  }
  return published;
}

function convert(schemas: Partial<Record<'params' | 'query' | 'body', ZodType>>, toJsonSchema: ToJsonSchema): PublishedRoute['schema'] {
  const out: NonNullable<PublishedRoute['schema']> = {};
  let any = false;
  for (const part of ['params', 'query', 'body'] as const) {
    const type = schemas[part];
    if (type === undefined) continue;
    try {
      // The input side: what a caller sends (before coercions and defaults).
      out[part] = toJsonSchema(type, { io: 'input' });
      any = true;
    } catch {
      // Not representable in JSON Schema: the route is published without it.
    }
  }
  return any ? out : undefined;
}
