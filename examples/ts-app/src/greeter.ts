// The greeter service: one process per instance, started by `warren up` (see warren.config.ts).
import { defineService, runService } from 'warren/service';
import { greeterApi } from './contract.js';

// Destructured: process.env is an index signature, which strictest settings read only so.
const { GREETING: greeting = 'Hello', WARREN_INSTANCE } = process.env;
const instance = Number(WARREN_INSTANCE ?? 0);

const greeter = defineService(greeterApi, {
  routes: {
    greet: ({ params, query }) => {
      const text = `${greeting}, ${params.name}!`;
      return { text: query.shout === 'yes' ? text.toUpperCase() : text, instance };
    },
  },
});

await runService(greeter);
