/**
 * `defineConfig()` for a typed `warren.config.ts` (or `.mts`, or a `.mjs` with JSDoc types): the
 * editor completes and checks every key as the config schema accepts it, before `warren up` does.
 * Only types are imported, so importing this loads neither zod nor the rest of the supervisor.
 */
import type { WarrenConfig } from './config-schema.js';

/**
 * Returns its argument unchanged; its type is the config as written in a file (the zod schema's
 * input type: defaults may be left out, unknown keys are compile errors).
 *
 * @example
 * // warren.config.ts
 * import { defineConfig } from 'warren/supervisor';
 * export default defineConfig({ services: [{ name: 'users', entry: './users.ts', instances: 2 }] });
 */
export function defineConfig(config: WarrenConfig): WarrenConfig {
  return config;
}
