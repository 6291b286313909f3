// The users service: who may order.
//   GET /users            every user
//   GET /users/:id        one user, or 404 USER_NOT_FOUND
//   POST /users           { name, email } checked by a zod schema -> 201 with the new user
// One process serves one instance: WARREN_SOCKET_DIR=/tmp/shop node examples/shop/users.mjs
import { defineService, reply, runService } from 'warren/service';
import { z } from 'zod';
import { problem, USERS } from './data.mjs';

const NewUser = z.object({ name: z.string().trim().min(1), email: z.email() });

const users = defineService({
  name: 'users',
  // Made once per process; the handlers get it as ctx.deps.
  dependencies: () => ({ users: new Map(USERS.map((user) => [user.id, { ...user }])) }),
  routes: {
    'GET /users': (_input, { deps }) => [...deps.users.values()],
    'GET /users/:id': ({ params }, { deps }) => deps.users.get(params.id) ?? problem(404, 'USER_NOT_FOUND', `no user with id ${params.id}`),
    'POST /users': {
      schema: { body: NewUser },
      handler: ({ body }, { deps }) => {
        const user = { id: String(deps.users.size + 1), ...body };
        deps.users.set(user.id, user);
        return reply(201, user, { location: `/users/${user.id}` });
      },
    },
  },
});

// Listens on <WARREN_SOCKET_DIR>/users.<WARREN_INSTANCE>.sock, tells its parent it is ready,
// and stops cleanly on SIGTERM or SIGINT.
await runService(users);
