// The users service's contract: its routes, with the schema of what they take. users.mjs
// implements it (defineService(usersApi, …)), so the service validates the body with the
// same schema; a caller may call it typed with client.service(usersApi). In TypeScript, the
// same module types both sides: handler params, body and result, and the caller's arguments.
import { route, serviceContract } from 'warren/service';
import { z } from 'zod';

export const NewUser = z.object({ name: z.string().trim().min(1), email: z.email() });

export const usersApi = serviceContract('users', {
  list: route('GET /users'),
  get: route('GET /users/:id'),
  create: route('POST /users', { body: NewUser }),
});
