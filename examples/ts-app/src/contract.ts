// The greeter's contract, shared by the service (src/greeter.ts) and its callers (src/client.ts):
// a wrong param, query or result type on either side fails to compile.
import { route, serviceContract } from 'warren/service';
import { z } from 'zod';

export interface Greeting {
  text: string;
  instance: number;
}

export const greeterApi = serviceContract('greeter', {
  greet: route('GET /greet/:name', { query: z.object({ shout: z.enum(['yes', 'no']).default('no') }) }).returns<Greeting>(),
});
