// The load generator: wrk (BENCH_WRK, else /usr/bin/wrk, else `wrk` on PATH) with --latency and
// report.lua, or autocannon (when installed) only if wrk is missing. Both return
// { req_per_s, p50_ms, p99_ms, non_2xx, requests, errors }.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./report.lua', import.meta.url));

/** wrk when there is one; autocannon when there is none, or when `prefer` is 'autocannon'. */
export async function findLoader(prefer = 'wrk') {
  for (const candidate of prefer === 'autocannon' ? [] : [process.env.BENCH_WRK, '/usr/bin/wrk', 'wrk']) {
    if (!candidate) continue;
    const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    // wrk --version prints its banner and exits 1.
    const text = `${probe.stdout ?? ''}${probe.stderr ?? ''}`;
    if (!probe.error && /^wrk \S+/m.test(text)) return { kind: 'wrk', bin: candidate, version: text.match(/^wrk (\S+)/m)[1] };
  }
  try {
    const autocannon = (await import('autocannon')).default;
    const { version } = JSON.parse(fs.readFileSync(fileURLToPath(import.meta.resolve('autocannon/package.json')), 'utf8'));
    return { kind: 'autocannon', autocannon, version };
  } catch {
    throw new Error(
      'no load generator: install wrk (Debian: apt-get install wrk; or set BENCH_WRK) or, failing that, npm i --no-save autocannon',
    );
  }
}

/** ms with 3 decimals from µs. */
const ms = (us) => Math.round(us) / 1000;

/** Converts wrk's duration text ("1.23ms", "850.00us", "1.02s") to ms. */
function durationMs(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) return Number.NaN;
  const factor = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2]];
  return Number(m[1]) * factor;
}

/** Reads wrk's output: the WRKJSON line of report.lua, the --latency table and the Non-2xx line. */
export function parseWrk(output) {
  const line = output.split('\n').find((l) => l.startsWith('WRKJSON '));
  if (!line) throw new Error(`wrk printed no result line:\n${output.trim()}`);
  const j = JSON.parse(line.slice('WRKJSON '.length));
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output);
  const distribution = {};
  for (const m of output.matchAll(/^\s+(50|75|90|99)%\s+(\S+)$/gm)) distribution[m[1]] = durationMs(m[2]);
  return {
    req_per_s: Math.round((j.requests / j.duration_us) * 1e6),
    p50_ms: ms(j.p50_us),
    p99_ms: ms(j.p99_us),
    non_2xx: non2xx ? Number(non2xx[1]) : 0,
    requests: j.requests,
    errors: { connect: j.connect_errors, read: j.read_errors, write: j.write_errors, timeout: j.timeouts },
    wrk_latency_table_ms: distribution,
  };
}

function runWrk(loader, url, { seconds, connections, threads, timeoutS }) {
  const args = [
    '-t',
    String(threads),
    '-c',
    String(connections),
    '-d',
    `${seconds}s`,
    '--timeout',
    `${timeoutS}s`,
    '--latency',
    '-s',
    SCRIPT,
    url,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(loader.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      out += d;
    });
    // wrk stops by itself after -d; this only guards against a wrk that hangs.
    const guard = setTimeout(() => child.kill('SIGKILL'), (seconds + timeoutS + 30) * 1000);
    child.once('error', (error) => {
      clearTimeout(guard);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(guard);
      if (code !== 0) return reject(new Error(`wrk exited with code ${code}, signal ${signal}:\n${out.trim()}`));
      try {
        resolve(parseWrk(out));
      } catch (error) {
        reject(error);
      }
    });
  });
}

async function runAutocannon(loader, url, { seconds, connections, timeoutS }) {
  const result = await loader.autocannon({ url, connections, duration: seconds, timeout: timeoutS, pipelining: 1 });
  return {
    req_per_s: Math.round(result.requests.total / (result.duration || seconds)),
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    non_2xx: result.non2xx,
    requests: result.requests.total,
    errors: { connect: 0, read: result.errors, write: 0, timeout: result.timeouts },
  };
}

/** Loads `url` for `seconds` with `connections` keep-alive connections. */
export function load(loader, url, options) {
  return loader.kind === 'wrk' ? runWrk(loader, url, options) : runAutocannon(loader, url, options);
}
