/**
 * The JSON schema of the config file, generated from the zod schema (configSchema) so that the two
 * cannot drift apart: `npm run build` writes it to schema/warren.schema.json, which the package
 * ships (`warren/schema.json`) for the `$schema` key of a warren.config.json.
 *
 * Decisions:
 * - The input side (`io: 'input'`): keys with a default are optional, as in the file.
 * - Draft 7, the draft that editors' JSON support (VS Code's among them) implements fully.
 * - Cross-field rules (unique service names, minDelayMs ≤ maxDelayMs) and the checks made when
 *   the file is loaded (entries exist, socket paths fit) cannot be said in JSON schema: an editor
 *   may accept a file that `warren up` still refuses, never the other way round.
 */
import { z } from 'zod';
import { configSchema } from './config-schema.js';

/** Where the package ships the schema, relative to its root. */
export const CONFIG_JSON_SCHEMA_FILE = 'schema/warren.schema.json';

/** The config file's JSON schema (draft 7), as a plain object. */
export function configJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(configSchema, { io: 'input', target: 'draft-7' }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    title: 'Warren config (warren.config.json)',
    description: 'The config file of `warren up`; docs/config.md in the warren package describes every key.',
    ...rest,
  };
}
