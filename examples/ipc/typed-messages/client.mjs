// @ts-check
// The calling side of a typed contract. Every call names a descriptor from contract.mjs, so
// params and results are checked where the contract is shared, not discovered at run time.
// Run: npm run build && node examples/ipc/typed-messages/client.mjs
import { fileURLToPath } from 'node:url';
import { isWarrenError, spawnPeer } from 'warren/peer';
import { userEvents, users } from './contract.mjs';

const service = await spawnPeer(process.execPath, [fileURLToPath(new URL('./service.mjs', import.meta.url))]);

service.onNotify(userEvents.created, (user) => {
  console.log(`event: users.created #${user.id} ${user.name}`);
});

const ada = await service.request(users.get, { id: 1 });
console.log(`users.get(1) = ${ada.name} <${ada.email}> (${ada.role})`);

const grace = await service.request(users.create, { name: 'Grace Hopper', email: 'grace@example.org', role: 'admin' });
console.log(`users.create = #${grace.id} ${grace.name}`);

// Typed as AsyncIterable<User>: each item is a User as it arrives.
const admins = await service.request(users.list, { role: 'admin' });
for await (const user of admins) console.log(`users.list(admin) -> #${user.id} ${user.name}`);

let count = 0;
for await (const user of await service.request(users.list, {})) {
  count++;
  // Leaving the loop early tells the producer to stop.
  if (user.id === 2) break;
}
console.log(`users.list() read ${count} users, then stopped early`);

try {
  await service.request(users.get, { id: 42 });
} catch (err) {
  // Errors from the other side are WarrenErrors (RemoteError) carrying the handler's code.
  if (!isWarrenError(err)) throw err;
  console.log(`users.get(42) failed with ${err.code}: ${err.message}`);
}

// Uncommenting this line is a type error in an editor: 'id' must be a number.
// await service.request(users.get, { id: 'one' });

await service.close();
await service.exited;
