// Calls the greeter through the typed contract: `npm run client -- Ada` while `warren up` runs.
import { ServiceClient } from 'warren/service';
import { greeterApi } from './contract.js';

const client = new ServiceClient();
try {
  const greeter = client.service(greeterApi);
  const greeting = await greeter.greet({ params: { name: process.argv[2] ?? 'world' }, query: { shout: 'yes' } });
  console.log(JSON.stringify(greeting));
} finally {
  client.close();
}
