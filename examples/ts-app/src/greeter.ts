// The greeter service: one process per instance, started by `warren up` (see warren.config.ts).
import { defineService, runService } from 'warren/service';
import { greeterApi } from './contract.js';

const greeting = process.env['GREETING'] ?? 'Hello';
const instance = Number(process.env['WARREN_INSTANCE'] ?? 0);

const greeter = defineService(greeterApi, {
  routes: {
    greet: ({ params, query }) => {
      const text = `${greeting}, ${params.name}!`;
      return { text: query.shout === 'yes' ? text.toUpperCase() : text, instance };
    },
  },
});

await runService(greeter);
