// Progress from a long request: the handler calls ctx.progress(), the caller's onProgress
// draws a bar, and the request still resolves with one final result.
// Run: npm run build && node examples/ipc/progress/parent.mjs
import { fileURLToPath } from 'node:url';
import { spawnPeer } from 'warren/peer';

const builder = await spawnPeer(process.execPath, [fileURLToPath(new URL('./child.mjs', import.meta.url))]);

const files = [
  'peer.ts',
  'pool.ts',
  'streams.ts',
  'outbox.ts',
  'contract.ts',
  'child.ts',
  'socket.ts',
  'stdio.ts',
  'memory.ts',
  'errors.ts',
];

function bar(done, total, width = 20) {
  const filled = Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round((done / total) * 100)).padStart(3)}%`;
}

let updates = 0;
const result = await builder.request(
  'build',
  { files },
  {
    // Progress frames travel on the same ordered stream as the response, so every update
    // arrives before the result does.
    onProgress: ({ done, total, file }) => {
      updates++;
      console.log(`${bar(done, total)} ${done}/${total} ${file}`);
    },
  },
);
console.log(`build finished: ${result.compiled} files, ${result.lines} lines, ${updates} progress updates`);

await builder.close();
await builder.exited;
