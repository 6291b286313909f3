/**
 * The gateway's /openapi.json (docs/gateway.md, OpenAPI): an OpenAPI 3.1 document of the routes
 * served now, built from the route table at each request, so it follows reloads as the router
 * does. Paths carry the services' prefixes, path parameters are written `{id}`, and the JSON
 * Schemas the services publish (zod's, docs/protocol.md §13.5) describe the path parameters, the
 * query parameters, the body and the answer; every operation also has the error body every layer
 * answers with.
 */
import { createHash } from 'node:crypto';
import type { GatewayCore } from './core.js';
import type { Endpoint } from './exchange.js';
import { JSON_TYPE } from './http-message.js';
import { type PathParameter, templatesOf } from './openapi-paths.js';
import type { GatewayRoute, JsonSchema } from './route-types.js';

/** The error body of http-message.ts errorBody(): `{ error: { code, message, data? } }`. */
export const ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'A code of docs/errors.md (WARREN_…) or of the service.' },
        message: { type: 'string' },
        data: { description: 'Details, when the error has any.' },
      },
    },
  },
};

const ERROR_REF = { $ref: '#/components/schemas/WarrenError' };
/** The methods an OpenAPI path item has a field for, lower case. */
const OPERATIONS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

type Json = Record<string, unknown>;

/** The OpenAPI 3.1 document of `routes` (as the gateway serves them, prefixes applied). */
export function openapiDocument(routes: readonly GatewayRoute[], title = 'Warren gateway'): Json {
  const paths: Record<string, Json> = {};
  const components: Record<string, JsonSchema> = { WarrenError: ERROR_SCHEMA };
  for (const route of routes) {
    const method = route.method.toLowerCase();
    if (!OPERATIONS.has(method)) continue;
    for (const { template, params } of templatesOf(route.httpPath)) {
      let item = paths[template];
      if (item === undefined) {
        item = {};
        paths[template] = item;
      }
      if (item[method] !== undefined) continue;
      item[method] = operation(route, params, components);
    }
  }
  const version = createHash('sha256').update(JSON.stringify(paths)).digest('hex').slice(0, 12);
  return {
    openapi: '3.1.0',
    info: { title, version, description: 'The routes the gateway serves now; `info.version` changes whenever they do.' },
    paths,
    components: { schemas: components },
  };
}

function operation(route: GatewayRoute, pathParams: readonly PathParameter[], components: Record<string, JsonSchema>): Json {
  const schema = route.schema ?? {};
  const base = componentName(`${route.service}_${route.method}_${route.httpPath}`);
  const parameters: Json[] = [];
  const paramsSchema = schema.params === undefined ? undefined : embed(schema.params, `${base}_params`, components);
  for (const param of pathParams) {
    const given = propertyOf(paramsSchema, param.name);
    const fallback: Json = param.pattern === undefined ? { type: 'string' } : { type: 'string', pattern: param.pattern };
    parameters.push({ name: param.name, in: 'path', required: true, schema: given ?? fallback });
  }
  const querySchema = schema.query === undefined ? undefined : embed(schema.query, `${base}_query`, components);
  const properties = querySchema?.properties;
  if (isObject(properties)) {
    const required = Array.isArray(querySchema?.required) ? (querySchema.required as unknown[]) : [];
    for (const [name, property] of Object.entries(properties)) {
      parameters.push({ name, in: 'query', required: required.includes(name), schema: property });
    }
  }
  const op: Json = {
    tags: [route.service],
    summary: `${route.method} ${route.path} of service ${route.service}`,
  };
  if (parameters.length > 0) op.parameters = parameters;
  if (schema.body !== undefined) {
    op.requestBody = { required: true, content: { 'application/json': { schema: embed(schema.body, `${base}_body`, components) } } };
  }
  const ok: Json = { description: "The service's answer." };
  if (schema.response !== undefined)
    ok.content = { 'application/json': { schema: embed(schema.response, `${base}_response`, components) } };
  op.responses = {
    '200': ok,
    default: {
      description: "An error: the gateway's or the service's, in the body every layer answers with.",
      content: { 'application/json': { schema: ERROR_REF } },
    },
  };
  return op;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function propertyOf(schema: Json | undefined, name: string): unknown {
  const properties = schema?.properties;
  return isObject(properties) && isObject(properties[name]) ? properties[name] : undefined;
}

/** A name OpenAPI takes for a component (`^[a-zA-Z0-9._-]+$`). */
function componentName(text: string): string {
  return text.replace(/[^a-zA-Z0-9._-]+/g, '_');
}

/**
 * A published JSON Schema made fit to sit inside the document: its `$schema` dropped (the
 * document's dialect applies), its `$defs` moved to components under `base` with the references
 * to them rewritten, and a schema that refers to itself (`#`) moved whole into components.
 */
function embed(schema: JsonSchema, base: string, components: Record<string, JsonSchema>): Json {
  const { $schema: _dialect, $defs, ...rest } = schema as Json;
  const defs = isObject($defs) ? $defs : {};
  let selfReferent = false;
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (!isObject(value)) return value;
    const out: Json = {};
    for (const [key, inner] of Object.entries(value)) {
      if (key === '$ref' && typeof inner === 'string') {
        if (inner === '#') {
          selfReferent = true;
          out[key] = `#/components/schemas/${base}`;
        } else if (inner.startsWith('#/$defs/')) {
          out[key] = `#/components/schemas/${componentName(`${base}_${decodePointer(inner.slice(8))}`)}`;
        } else out[key] = inner;
      } else out[key] = rewrite(inner);
    }
    return out;
  };
  for (const [name, def] of Object.entries(defs)) components[componentName(`${base}_${name}`)] = rewrite(def) as JsonSchema;
  const body = rewrite(rest) as Json;
  if (!selfReferent) return body;
  components[base] = body;
  return { $ref: `#/components/schemas/${base}` };
}

/** A JSON Pointer token back into its text (`~1` is `/`, `~0` is `~`). */
function decodePointer(token: string): string {
  let text = token;
  try {
    text = decodeURIComponent(token);
  } catch {
    // Not percent-encoded after all: taken as it is.
  }
  return text.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** The endpoint: GET and HEAD answer the document of the routes served at that moment. */
export function openapiEndpoint(core: GatewayCore): Endpoint {
  return (exchange) => {
    if (exchange.method !== 'GET' && exchange.method !== 'HEAD') {
      core.fail(exchange, 405, 'WARREN_METHOD_NOT_ALLOWED', `${exchange.method} is not allowed here`, { allow: 'GET, HEAD' });
      return;
    }
    const body = JSON.stringify(openapiDocument(core.table.routes));
    core.send(exchange, 200, { 'content-type': JSON_TYPE, 'cache-control': 'no-store', 'x-request-id': exchange.requestId }, body);
  };
}
