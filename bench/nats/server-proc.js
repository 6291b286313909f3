// Child entry: starts one system's server in a socket directory (bench/lib/system-server-proc.js).
//   node bench/nats/server-proc.js --system SYSTEM --dir SOCKET_DIR
import { runServerProc } from '../lib/system-server-proc.js';
import { getSystem, SYSTEMS } from './systems.js';

await runServerProc(getSystem, SYSTEMS);
