// @ts-check
// The answering side of the contract: handlers are typed by the same descriptors.
import { stdioPeer } from 'warren/peer';
import { userEvents, users } from './contract.mjs';

const caller = stdioPeer({ name: 'client' });

/** @type {Map<number, import('./contract.mjs').User>} */
const db = new Map([
  [1, { id: 1, name: 'Ada Lovelace', email: 'ada@example.org', role: 'admin' }],
  [2, { id: 2, name: 'Alan Turing', email: 'alan@example.org', role: 'member' }],
  [3, { id: 3, name: 'Edsger Dijkstra', email: 'edsger@example.org', role: 'member' }],
]);

caller.onRequest(users.get, ({ id }) => {
  const user = db.get(id);
  if (!user) throw Object.assign(new Error(`no user with id ${id}`), { code: 'USER_NOT_FOUND' });
  return user;
});

caller.onRequest(users.create, ({ name, email, role = 'member' }) => {
  const user = { id: db.size + 1, name, email, role };
  db.set(user.id, user);
  caller.notify(userEvents.created, user);
  return user;
});

// An async generator is sent item by item; the caller's for-await pulls it.
caller.onRequest(users.list, async function* ({ role }) {
  for (const user of db.values()) {
    if (role === undefined || user.role === role) yield user;
  }
});
