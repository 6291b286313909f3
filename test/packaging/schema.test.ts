/**
 * The JSON schema that `$schema` points at: shipped in the package (schema/warren.schema.json,
 * `warren/schema.json`), equal to a fresh generation from the zod schema (so a new config key
 * reaches it through the build), accepting the configs the docs and examples show and refusing
 * what `warren up` refuses.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { starterFiles } from '../../src/cli/init.js';
import { configJsonSchema, parseConfig } from '../../src/supervisor/index.js';
import { root, usePackedProjects } from './pack.js';

const { pack } = usePackedProjects();
let shipped: Record<string, unknown>;

beforeAll(async () => {
  const { app } = await pack();
  // Through the package's exports, as an editor or a tool in the project would find it.
  const file = createRequire(join(app, 'index.js')).resolve('warren/schema.json');
  expect(file).toBe(join(app, 'node_modules', 'warren', 'schema', 'warren.schema.json'));
  shipped = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}, 120_000);

/** The first ```json block after `heading` in a markdown file. */
function jsonBlockAfter(file: string, heading: string): unknown {
  const text = readFileSync(join(root, file), 'utf8');
  const block = /```json\n([\s\S]*?)```/.exec(text.slice(text.indexOf(heading)));
  if (!block) throw new Error(`no json block after ${heading} in ${file}`);
  return JSON.parse(block[1] as string);
}

const valid: [string, () => unknown][] = [
  ['examples/shop/warren.config.json', () => JSON.parse(readFileSync(join(root, 'examples/shop/warren.config.json'), 'utf8'))],
  ["docs/config.md's example with every key", () => jsonBlockAfter('docs/config.md', '## Example')],
  ["README's supervisor example", () => jsonBlockAfter('README.md', '## Supervisor')],
  ["warren init's starter", () => JSON.parse(starterFiles()['warren.config.json'] as string)],
];

const service = { name: 'users', entry: './users.mjs' };
const invalid: [string, unknown][] = [
  ['no services', {}],
  ['an empty services list', { services: [] }],
  ['an unknown top-level key', { services: [service], sockets: './run' }],
  ['an unknown service key', { services: [{ ...service, instancse: 2 }] }],
  ['a service without entry', { services: [{ name: 'users' }] }],
  ['a bad service name', { services: [{ ...service, name: 'Users' }] }],
  ['instances 1.5', { services: [{ ...service, instances: 1.5 }] }],
  ['instances 257', { services: [{ ...service, instances: 257 }] }],
  ['an env value that is a number', { services: [{ ...service, env: { PORT: 3000 } }] }],
  ['a log level that does not exist', { logLevel: 'verbose', services: [service] }],
  ['an unknown restart key', { services: [{ ...service, restart: { delayMs: 100 } }] }],
  ['a negative drainTimeoutMs', { services: [{ ...service, drainTimeoutMs: -1 }] }],
];

describe('the shipped JSON schema', () => {
  it('is what the zod schema generates now (the build writes it)', () => {
    expect(shipped).toEqual(configJsonSchema());
    expect(shipped.$schema).toBe('http://json-schema.org/draft-07/schema#');
  });

  it.each(valid)('accepts %s, as warren up does', (_name, read) => {
    const config = read();
    const validate = new Ajv({ strict: true, allErrors: true }).compile(shipped);
    expect(validate(config), JSON.stringify(validate.errors)).toBe(true);
    expect(() => parseConfig(config, { baseDir: root, env: {} })).not.toThrow();
  });

  it.each(invalid)('refuses %s, as warren up does', (_name, config) => {
    const validate = new Ajv({ strict: true }).compile(shipped);
    expect(validate(config)).toBe(false);
    expect(() => parseConfig(config, { baseDir: root, env: {} })).toThrow(expect.objectContaining({ code: 'WARREN_CONFIG' }));
  });
});
