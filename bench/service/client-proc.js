// Child entry: connects to a running server, runs one mode, prints one JSON line (bench/lib/system-client-proc.js).
//   node bench/service/client-proc.js --system SYSTEM --dir SOCKET_DIR --mode seq|pipe64 --payload 64B|4KiB [--seconds 5] [--warmup 0.5]
import { runClientProc } from '../lib/system-client-proc.js';
import { getSystem, SYSTEMS } from './systems.js';

await runClientProc(getSystem, SYSTEMS);
