// Loaded by `warren up` through tsx; defineConfig types every key (a typo fails `npm run typecheck`).
import { defineConfig } from 'warren/supervisor';

export default defineConfig({
  services: [{ name: 'greeter', entry: './src/greeter.ts', instances: 2, env: { GREETING: 'Hello' } }],
});
