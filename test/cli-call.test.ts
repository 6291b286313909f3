// `warren call` end to end: the built CLI (npm test builds first) against a real service process.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { useProcesses } from './support/processes.js';
import { until } from './support/until.js';

const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const usersService = fileURLToPath(new URL('./fixtures/service-users.mjs', import.meta.url));
const poisonService = fileURLToPath(new URL('./fixtures/service-poison.mjs', import.meta.url));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `warren call ...args`; `env` is added to a copy of this process's environment without WARREN_SOCKET_DIR; `stdin` is written to its stdin. */
function warrenCall(args: string[], env: Record<string, string> = {}, stdin?: string): Promise<Result> {
  const base = { ...process.env };
  delete base.WARREN_SOCKET_DIR;
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [cli, 'call', ...args],
      { env: { ...base, ...env }, timeout: 20_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
      },
    );
    child.stdin?.end(stdin ?? '');
  });
}

describe('warren call', () => {
  const procs = useProcesses();

  /** A fresh private socket directory with the users service listening in it. */
  async function startUsers(): Promise<string> {
    const dir = dirname(procs.socketPath());
    const { line } = await procs.startServer(usersService, [dir]);
    expect(line.trim()).toBe('ready');
    return dir;
  }

  it('prints a 200 response readably and exits 0 (socket dir from WARREN_SOCKET_DIR, method in any case)', async () => {
    const dir = await startUsers();
    const result = await warrenCall(['users', 'get', '/users/42'], { WARREN_SOCKET_DIR: dir });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const [status, blank, ...body] = result.stdout.trimEnd().split('\n');
    expect(status).toBe('200 OK');
    expect(blank).toBe('');
    expect(body.length).toBeGreaterThan(1); // pretty-printed over several lines
    expect(JSON.parse(body.join('\n'))).toEqual({ id: '42', name: 'Ada' });
  });

  it('sends --data as the body and shows a 201 with its headers', async () => {
    const dir = await startUsers();
    const result = await warrenCall(['users', 'POST', '/users', '--data', '{"name":"Bob"}', '--socket-dir', dir]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines.slice(0, 3)).toEqual(['201 Created', 'location: /users/101', '']);
    expect(JSON.parse(lines.slice(3).join('\n'))).toEqual({ id: '101', name: 'Bob' });
  });

  it('prints exactly one JSON line with --json', async () => {
    const dir = await startUsers();
    const result = await warrenCall(['users', 'post', '/users', '--json', '--data', '{"name":"Cy"}', '--socket-dir', dir]);
    expect(result.code).toBe(0);
    expect(result.stdout.endsWith('\n')).toBe(true);
    expect(result.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(JSON.parse(result.stdout)).toEqual({ status: 201, headers: { location: '/users/101' }, body: { id: '101', name: 'Cy' } });
  });

  it('exits 1 on a 404 and still prints the response', async () => {
    const dir = await startUsers();
    const result = await warrenCall(['users', 'GET', '/users/7', '--json', '--socket-dir', dir]);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 404, body: { error: 'no such user' } });
    const readable = await warrenCall(['users', 'GET', '/users/7', '--socket-dir', dir]);
    expect(readable.code).toBe(1);
    expect(readable.stdout.split('\n')[0]).toBe('404 Not Found');
  });

  it('exits 2 with WARREN_UNKNOWN_SERVICE for a service with no instance', async () => {
    const dir = await startUsers();
    const result = await warrenCall(['orders', 'GET', '/orders', '--socket-dir', dir]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^warren call: WARREN_UNKNOWN_SERVICE: .*'orders'/);
  });

  it('exits 2 with WARREN_SOCKET_DIR when the socket directory does not exist', async () => {
    const dir = dirname(procs.socketPath());
    const result = await warrenCall(['users', 'GET', '/users/42', '--socket-dir', `${dir}/missing`]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^warren call: WARREN_SOCKET_DIR: .*does not exist/);
  });

  it('exits 2 with WARREN_TIMEOUT when the call outlives --timeout', async () => {
    const dir = await startUsers();
    const result = await warrenCall(['users', 'GET', '/slow', '--timeout', '200', '--socket-dir', dir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^warren call: WARREN_TIMEOUT: .*200 ms/);
  });

  it('exits 2 on --data that is not JSON, naming the problem', async () => {
    const dir = await startUsers();
    const result = await warrenCall(['users', 'POST', '/users', '--data', '{name: Bob}', '--socket-dir', dir]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^warren call: WARREN_INVALID_ARGUMENT: --data is not valid JSON: /);
  });

  it('exits 2 on an unknown method, a bad --timeout or missing arguments', async () => {
    const dir = await startUsers();
    const method = await warrenCall(['users', 'FETCH', '/users/42', '--socket-dir', dir]);
    expect(method.code).toBe(2);
    expect(method.stderr).toMatch(/^warren call: WARREN_INVALID_ARGUMENT: unknown method 'FETCH'/);
    const timeout = await warrenCall(['users', 'GET', '/users/42', '--timeout', 'soon', '--socket-dir', dir]);
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toMatch(/--timeout must be a positive number/);
    const missing = await warrenCall(['users']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing required argument/);
  });
});

describe('warren call: the deadline, retries, headers and bodies from files', () => {
  const procs = useProcesses();
  const marks: string[] = [];
  afterEach(() => {
    for (const dir of marks.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** Two instances of the poison service in a fresh socket directory; `markDir` records which instance got what. */
  async function startPoison(): Promise<{ dir: string; markDir: string }> {
    const dir = dirname(procs.socketPath());
    const markDir = mkdtempSync(join(tmpdir(), 'warren-marks-'));
    marks.push(markDir);
    for (const instance of [0, 1]) {
      const { line } = await procs.startServer(poisonService, [dir, String(instance), markDir]);
      expect(line.trim()).toBe('ready');
    }
    return { dir, markDir };
  }

  it('a GET that kills its instance is not sent to another one: one instance down, WARREN_PEER_CLOSED saying so', async () => {
    const { dir, markDir } = await startPoison();
    const result = await warrenCall(['poison', 'GET', '/crash', '--timeout', '20000', '--socket-dir', dir]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/^warren call: WARREN_PEER_CLOSED: .*went away while running the call .*not sent again\n$/);
    // Only one instance ran it (the pooled client alone would have sent the GET to the second one too).
    expect(readdirSync(markDir).filter((f) => f.startsWith('crash.'))).toHaveLength(1);
  });

  it('--timeout bounds the whole call: WARREN_TIMEOUT naming it, and the instance is told to stop', async () => {
    const { dir, markDir } = await startPoison();
    const result = await warrenCall(['poison', 'GET', '/hang', '--timeout', '300', '--socket-dir', dir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "warren call: WARREN_TIMEOUT: no answer from service 'poison' within 300 ms (--timeout, retries included)\n",
    );
    const hung = readdirSync(markDir).filter((f) => f.startsWith('hang.'));
    expect(hung).toHaveLength(1);
    // The cancel reached the instance that had the call.
    await until(() => existsSync(join(markDir, hung[0]!.replace('hang.', 'cancelled.'))), 'the cancel to reach the instance');
  });

  it('sends -H headers (repeatable, names in lower case) and refuses one without a colon', async () => {
    const { dir } = await startPoison();
    const result = await warrenCall([
      'poison',
      'GET',
      '/headers',
      '-H',
      'X-Request-Id: abc',
      '--header',
      'x-tenant:7',
      '--json',
      '--socket-dir',
      dir,
    ]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(result.stdout).body).toMatchObject({ 'x-request-id': 'abc', 'x-tenant': '7' });
    const bad = await warrenCall(['poison', 'GET', '/headers', '-H', 'no-colon', '--socket-dir', dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(
      "warren call: WARREN_INVALID_ARGUMENT: -H 'no-colon' is not a header: write it as name:value, e.g. -H x-request-id:abc\n",
    );
  });

  it('reads --data from a file (@path) or from stdin (-), and names the source of bad JSON', async () => {
    const { dir, markDir } = await startPoison();
    const file = join(markDir, 'body.json');
    writeFileSync(file, '{"from":"file"}');
    const fromFile = await warrenCall(['poison', 'POST', '/echo', '--data', `@${file}`, '--json', '--socket-dir', dir]);
    expect(fromFile, fromFile.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(fromFile.stdout).body).toEqual({ from: 'file' });
    const fromStdin = await warrenCall(['poison', 'POST', '/echo', '--data', '-', '--json', '--socket-dir', dir], {}, '{"from":"stdin"}');
    expect(fromStdin, fromStdin.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(fromStdin.stdout).body).toEqual({ from: 'stdin' });
    const badStdin = await warrenCall(['poison', 'POST', '/echo', '--data', '-', '--socket-dir', dir], {}, 'nope');
    expect(badStdin.code).toBe(2);
    expect(badStdin.stderr).toMatch(/^warren call: WARREN_INVALID_ARGUMENT: --data - \(stdin\) is not valid JSON: /);
    const missing = await warrenCall(['poison', 'POST', '/echo', '--data', `@${join(markDir, 'missing.json')}`, '--socket-dir', dir]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(
      `warren call: WARREN_INVALID_ARGUMENT: --data @${join(markDir, 'missing.json')}: the file cannot be read: ENOENT\n`,
    );
  });

  it('an unknown service: WARREN_UNKNOWN_SERVICE listing the services that have instances', async () => {
    const { dir } = await startPoison();
    const result = await warrenCall(['nope', 'GET', '/', '--socket-dir', dir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `warren call: WARREN_UNKNOWN_SERVICE: no instance of service 'nope' in ${dir}; services with instances there: poison\n`,
    );
  });
});
