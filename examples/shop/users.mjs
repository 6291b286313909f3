// The users service: who may order.
//   GET /users            every user
//   GET /users/:id        one user, or 404 USER_NOT_FOUND
//   POST /users           { name, email } checked by the contract's zod schema -> 201 with the new user
// One process serves one instance: WARREN_SOCKET_DIR=/tmp/shop node examples/shop/users.mjs
import { defineService, reply, runService } from 'warren/service';
import { usersApi } from './contracts.mjs';
import { problem, USERS } from './data.mjs';

// Implements the contract in contracts.mjs: the name and route keys come from it, one handler
// per route by its name there, and POST /users validates its body with the contract's schema.
const users = defineService(usersApi, {
  // Made once per process; the handlers get it as ctx.deps.
  dependencies: () => ({ users: new Map(USERS.map((user) => [user.id, { ...user }])) }),
  routes: {
    list: (_input, { deps }) => [...deps.users.values()],
    get: ({ params }, { deps }) => deps.users.get(params.id) ?? problem(404, 'USER_NOT_FOUND', `no user with id ${params.id}`),
    create: ({ body }, { deps }) => {
      const user = { id: String(deps.users.size + 1), ...body };
      deps.users.set(user.id, user);
      return reply(201, user, { location: `/users/${user.id}` });
    },
  },
});

// Listens on <WARREN_SOCKET_DIR>/users.<WARREN_INSTANCE>.sock, tells its parent it is ready,
// and stops cleanly on SIGTERM or SIGINT.
await runService(users);
