/**
 * Compile-time tests of defineConfig: a warren.config.ts gets the config schema's input type, so a
 * wrong key or value fails to compile (every `@ts-expect-error` must find an error), and a config
 * with only the required keys compiles. Never run.
 */
import { expectTypeOf } from 'vitest';
import { defineConfig as fromRoot, type WarrenConfig as RootWarrenConfig } from '../../src/index.js';
import { defineConfig, type WarrenConfig } from '../../src/supervisor/index.js';

expectTypeOf(defineConfig).parameter(0).toEqualTypeOf<WarrenConfig>();
expectTypeOf(fromRoot).toEqualTypeOf(defineConfig);
expectTypeOf<RootWarrenConfig>().toEqualTypeOf<WarrenConfig>();

// Defaults may be left out: only services, each with name and entry, is required.
defineConfig({ services: [{ name: 'users', entry: './users.ts' }] });
defineConfig({
  $schema: './node_modules/warren/schema/warren.schema.json',
  socketDir: './run',
  logLevel: 'debug',
  services: [
    {
      name: 'users',
      entry: './users.ts',
      instances: 2,
      env: { PORT: '3000' },
      restart: { minDelayMs: 100 },
      maxMemoryMB: null,
      drainTimeoutMs: 5000,
    },
  ],
});

// @ts-expect-error services is required
defineConfig({});
// @ts-expect-error an unknown top-level key
defineConfig({ services: [{ name: 'users', entry: './users.ts' }], sockets: './run' });
// @ts-expect-error an unknown service key
defineConfig({ services: [{ name: 'users', entry: './users.ts', instancse: 2 }] });
// @ts-expect-error env values are strings
defineConfig({ services: [{ name: 'users', entry: './users.ts', env: { PORT: 3000 } }] });
// @ts-expect-error instances is a number
defineConfig({ services: [{ name: 'users', entry: './users.ts', instances: '2' }] });
// @ts-expect-error a log level that does not exist
defineConfig({ logLevel: 'verbose', services: [{ name: 'users', entry: './users.ts' }] });
// @ts-expect-error entry is required
defineConfig({ services: [{ name: 'users' }] });
