/** The gateway's /openapi.json against real instances: an OpenAPI 3.1 document of the routes served now. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Gateway, startGateway } from '../../src/gateway/index.js';
import { templatesOf } from '../../src/gateway/openapi-paths.js';
import { defineService } from '../../src/service/define.js';
import { type ServiceServer, serveService } from '../../src/service/server.js';
import { serviceCleanup } from '../support/service-cleanup.js';
import { until } from '../support/until.js';

const { dirs, servers } = serviceCleanup();
const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

// biome-ignore lint/suspicious/noExplicitAny: the tests walk a JSON document
type Json = Record<string, any>;

const Tag = z.object({ label: z.string() }).meta({ id: 'Tag' });
const TreeNode: z.ZodType = z.object({
  name: z.string(),
  get children() {
    return z.array(TreeNode).optional();
  },
});

/** The users service; `extra` routes for a later version of it. */
function usersService(extra: Record<string, () => unknown> = {}) {
  return defineService({
    name: 'users',
    routes: {
      'GET /users/:id': {
        handler: ({ params }) => ({ id: params.id }),
        schema: {
          params: z.object({ id: z.string().regex(/^\d+$/) }),
          query: z.object({ fields: z.string().optional(), limit: z.string() }),
        },
      },
      'POST /users': {
        handler: ({ body }) => body,
        schema: { body: z.object({ name: z.string().min(1), tags: z.array(Tag).optional() }) },
      },
      'PUT /trees/:name': { handler: ({ body }) => body, schema: { body: TreeNode } },
      'GET /files/*': () => 'a file',
      'GET /archive/:year(^\\d{4})-:month': ({ params }) => params,
      'GET,HEAD /optional/:page?': () => 'page',
      ...extra,
    },
  });
}
const users = usersService();

const orders = defineService({ name: 'orders', routes: { 'GET /': () => [], 'DELETE /orders/:id': () => undefined } });

/** A later version of `users`: one route more. */
const usersV2 = usersService({ 'GET /users/:id/friends': () => [] });

async function setup(options: Parameters<typeof startGateway>[0] = {}) {
  const base = mkdtempSync(join(tmpdir(), 'warren-test-'));
  dirs.push(base);
  const dir = join(base, 'run');
  servers.push((await serveService(users, { socketDir: dir })) as ServiceServer<unknown>);
  servers.push((await serveService(orders, { socketDir: dir })) as ServiceServer<unknown>);
  const gateway = await startGateway({
    port: 0,
    socketDir: dir,
    logDestination: new PassThrough().resume(),
    prefixes: { orders: '/api/orders' },
    ...options,
  });
  gateways.push(gateway);
  return { dir, gateway };
}

async function documentOf(gateway: Gateway, path = '/openapi.json'): Promise<Json> {
  const res = await fetch(`${gateway.url}${path}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
  return (await res.json()) as Json;
}

/** The shape OpenAPI 3.1 requires of what the gateway writes (the parts it uses), as a JSON Schema. */
const OPENAPI_SHAPE = {
  type: 'object',
  required: ['openapi', 'info', 'paths'],
  properties: {
    openapi: { type: 'string', pattern: '^3\\.1\\.\\d+$' },
    info: { type: 'object', required: ['title', 'version'], properties: { title: { type: 'string' }, version: { type: 'string' } } },
    paths: {
      type: 'object',
      propertyNames: { pattern: '^/' },
      additionalProperties: {
        type: 'object',
        propertyNames: {
          enum: ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace', 'summary', 'description', 'parameters'],
        },
        additionalProperties: { $ref: '#/$defs/operation' },
      },
    },
    components: {
      type: 'object',
      properties: { schemas: { type: 'object', propertyNames: { pattern: '^[a-zA-Z0-9._-]+$' } } },
    },
  },
  $defs: {
    operation: {
      type: 'object',
      required: ['responses'],
      properties: {
        tags: { type: 'array', items: { type: 'string' } },
        parameters: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name', 'in', 'schema'],
            properties: { name: { type: 'string' }, in: { enum: ['path', 'query', 'header', 'cookie'] }, required: { type: 'boolean' } },
            // A path parameter is required.
            anyOf: [
              { properties: { in: { not: { const: 'path' } } } },
              { required: ['required'], properties: { required: { const: true } } },
            ],
          },
        },
        requestBody: {
          type: 'object',
          required: ['content'],
          properties: { content: { type: 'object', additionalProperties: { type: 'object', properties: { schema: { type: 'object' } } } } },
        },
        responses: {
          type: 'object',
          minProperties: 1,
          propertyNames: { pattern: '^([1-5](\\d\\d|XX)|default)$' },
          additionalProperties: { type: 'object', required: ['description'] },
        },
      },
    },
  },
};

/** Checks the document as OpenAPI 3.1 (its structure, then every schema in it compiled as JSON Schema 2020-12 with its refs resolved). */
function validate(doc: Json): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const shape = ajv.compile(OPENAPI_SHAPE);
  expect(shape(doc), JSON.stringify(shape.errors)).toBe(true);
  ajv.addSchema(doc, 'doc');
  for (const [template, item] of Object.entries(doc.paths as Json)) {
    const named = [...template.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);
    for (const [method, op] of Object.entries(item as Json)) {
      const pointer = `doc#/paths/${template.replace(/~/g, '~0').replace(/\//g, '~1')}/${method}`;
      // Every {param} of the template is a path parameter, and every path parameter is in the template.
      const pathParams = ((op.parameters ?? []) as Json[]).filter((p) => p.in === 'path').map((p) => p.name);
      expect(pathParams.sort(), `${method} ${template}`).toEqual([...named].sort());
      for (let i = 0; i < ((op.parameters ?? []) as Json[]).length; i++) ajv.compile({ $ref: `${pointer}/parameters/${i}/schema` });
      if (op.requestBody) ajv.compile({ $ref: `${pointer}/requestBody/content/application~1json/schema` });
      ajv.compile({ $ref: `${pointer}/responses/default/content/application~1json/schema` });
    }
  }
  return ajv;
}

describe('gateway /openapi.json', () => {
  it('describes every route with the prefix applied, its path and query parameters, its body and the error body', async () => {
    const { gateway } = await setup();
    const doc = await documentOf(gateway);
    const ajv = validate(doc);
    expect(doc.openapi).toBe('3.1.0');
    const operations = Object.entries(doc.paths as Json).flatMap(([path, item]) => Object.keys(item as Json).map((m) => `${m} ${path}`));
    expect(operations.sort()).toEqual(
      [
        'get /users/{id}',
        'post /users',
        'put /trees/{name}',
        'get /files/{*}',
        'get /archive/{year}-{month}',
        'get /optional',
        'head /optional',
        'get /optional/{page}',
        'head /optional/{page}',
        'get /api/orders',
        'delete /api/orders/orders/{id}',
      ].sort(),
    );
    for (const route of gateway.routes()) {
      for (const { template } of templatesOf(route.httpPath)) {
        expect(doc.paths[template]?.[route.method.toLowerCase()], `${route.method} ${route.httpPath}`).toBeDefined();
      }
    }
    const getUser = doc.paths['/users/{id}'].get;
    expect(getUser.tags).toEqual(['users']);
    expect(getUser.parameters).toEqual([
      { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^\\d+$' } },
      { name: 'fields', in: 'query', required: false, schema: { type: 'string' } },
      { name: 'limit', in: 'query', required: true, schema: { type: 'string' } },
    ]);
    expect(Object.keys(getUser.responses)).toEqual(['200', 'default']);
    const error = ajv.compile({ $ref: 'doc#/paths/~1users~1{id}/get/responses/default/content/application~1json/schema' });
    expect(error({ error: { code: 'WARREN_NOT_FOUND', message: 'no route' } })).toBe(true);
    expect(error({ error: { message: 'no code' } })).toBe(false);
    // The body's schema, with a shared part (zod's $defs) moved to components.
    const body = ajv.compile({ $ref: 'doc#/paths/~1users/post/requestBody/content/application~1json/schema' });
    expect(body({ name: 'ann', tags: [{ label: 'x' }] })).toBe(true);
    expect(body({ name: '' })).toBe(false);
    expect(body({ name: 'ann', tags: [{}] })).toBe(false);
    expect(JSON.stringify(doc)).not.toContain('$defs');
    expect(JSON.stringify(doc)).not.toContain('"$schema"');
    // A schema that refers to itself is moved whole to components.
    const tree = ajv.compile({ $ref: 'doc#/paths/~1trees~1{name}/put/requestBody/content/application~1json/schema' });
    expect(tree({ name: 'a', children: [{ name: 'b', children: [] }] })).toBe(true);
    expect(tree({ name: 'a', children: [{ children: [] }] })).toBe(false);
    // A parameter with a regular expression and no schema gets the expression as its pattern.
    expect(doc.paths['/archive/{year}-{month}'].get.parameters).toEqual([
      { name: 'year', in: 'path', required: true, schema: { type: 'string', pattern: '^\\d{4}' } },
      { name: 'month', in: 'path', required: true, schema: { type: 'string' } },
    ]);
    const head = await fetch(`${gateway.url}/openapi.json`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
    const post = await fetch(`${gateway.url}/openapi.json`, { method: 'POST' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
  });

  it('follows the routes live: a route added by a reload shows up, and info.version changes', async () => {
    const { dir, gateway } = await setup();
    const before = await documentOf(gateway);
    expect(before.paths['/users/{id}/friends']).toBeUndefined();
    servers.push((await serveService(usersV2, { socketDir: dir, instance: 1 })) as ServiceServer<unknown>);
    const after = await until(
      async () => {
        const doc = await documentOf(gateway);
        return doc.paths['/users/{id}/friends'] === undefined ? undefined : doc;
      },
      { message: 'the new route in the document', timeoutMs: 60_000 },
    );
    validate(after);
    expect(after.paths['/users/{id}/friends'].get.parameters).toEqual([
      { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
    ]);
    expect(after.info.version).not.toBe(before.info.version);
    expect((await documentOf(gateway)).info.version).toBe(after.info.version);
  });

  it('is served at the configured path, or not at all', async () => {
    const { gateway } = await setup({ openapi: '/api/openapi.json' });
    validate(await documentOf(gateway, '/api/openapi.json'));
    expect((await fetch(`${gateway.url}/openapi.json`)).status).toBe(404);
    const off = await setup({ openapi: false, env: {} });
    expect((await fetch(`${off.gateway.url}/openapi.json`)).status).toBe(404);
    const env = await setup({ env: { GATEWAY_OPENAPI: '0' } });
    expect((await fetch(`${env.gateway.url}/openapi.json`)).status).toBe(404);
  });
});

describe('path templates', () => {
  it('turns find-my-way patterns into OpenAPI templates', () => {
    expect(templatesOf('/users/:id')).toEqual([{ template: '/users/{id}', params: [{ name: 'id' }] }]);
    expect(templatesOf('/a/:x(^\\d+)/b')).toEqual([{ template: '/a/{x}/b', params: [{ name: 'x', pattern: '^\\d+' }] }]);
    expect(templatesOf('/f/:name.:ext')).toEqual([{ template: '/f/{name}.{ext}', params: [{ name: 'name' }, { name: 'ext' }] }]);
    expect(templatesOf('/time::now')).toEqual([{ template: '/time:now', params: [] }]);
    expect(templatesOf('/static/*')).toEqual([{ template: '/static/{*}', params: [{ name: '*' }] }]);
    expect(templatesOf('/:page?')).toEqual([
      { template: '/', params: [] },
      { template: '/{page}', params: [{ name: 'page' }] },
    ]);
  });
});
