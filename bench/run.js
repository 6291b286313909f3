// `npm run bench`: every benchmark, one after another. Each writes bench/results/<name>-latest.json
// and prints its table with ratios. Later layers add theirs to the list.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const benches = [
  { name: 'ipc', script: fileURLToPath(new URL('./ipc/run.js', import.meta.url)) },
  { name: 'service', script: fileURLToPath(new URL('./service/run.js', import.meta.url)) },
  { name: 'supervisor', script: fileURLToPath(new URL('./supervisor/run.js', import.meta.url)) },
  { name: 'ws', script: fileURLToPath(new URL('./ws/run.js', import.meta.url)) },
  // Needs a NATS server (BENCH_NATS_URL, NATS_URL, else 127.0.0.1:4222); Moleculer is skipped without BENCH_MOLECULER_DIR.
  { name: 'nats', script: fileURLToPath(new URL('./nats/run.js', import.meta.url)) },
  // Needs wrk (else autocannon, if installed); nginx is skipped with a note when missing.
  { name: 'http', script: fileURLToPath(new URL('./http/run.js', import.meta.url)) },
];

let failed = 0;
for (const { name, script } of benches) {
  console.log(`\n## ${name}\n`);
  const result = spawnSync(process.execPath, [script, ...process.argv.slice(2)], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`bench ${name} failed (exit ${result.status ?? result.signal})`);
    failed++;
  }
}
process.exitCode = failed === 0 ? 0 : 1;
