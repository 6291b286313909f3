export * from './errors.js';
export * from './peer/index.js';
export type { ServiceConfig, WarrenConfig } from './supervisor/config-schema.js';
// Only defineConfig of the supervisor: `import { defineConfig } from 'warren'` in a warren.config.ts
// loads no supervisor code (the rest is in 'warren/supervisor').
export { defineConfig } from './supervisor/define-config.js';
export * from './wire/index.js';
