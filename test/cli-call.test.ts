// `warren call` end to end: the built CLI (npm test builds first) against a real service process.
import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useProcesses } from './support/processes.js';

const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const usersService = fileURLToPath(new URL('./fixtures/service-users.mjs', import.meta.url));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `warren call ...args`; `env` is added to a copy of this process's environment without WARREN_SOCKET_DIR. */
function warrenCall(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const base = { ...process.env };
  delete base.WARREN_SOCKET_DIR;
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, 'call', ...args], { env: { ...base, ...env }, timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
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
