/**
 * A handler that throws answers 500 with only the request id, and the error itself is logged by
 * default: one JSON line on stderr with the request id, route, message and stack, which the
 * supervisor keeps so that `warren logs` shows it. `onInternalError: null` turns it off.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ServiceClient } from '../../src/service/client.js';
import { internalErrorLine } from '../../src/service/internal-error-log.js';
import { readChildLine } from '../../src/supervisor/child-line.js';
import { connectControl } from '../../src/supervisor/control-client.js';
import { parseConfig, Supervisor } from '../../src/supervisor/index.js';
import { createSupervisorLog } from '../../src/supervisor/logger.js';
import type { LogRecord } from '../../src/supervisor/protocol.js';
import { instances, supervisorFixture, until } from '../support/supervised.js';

const THROWER = supervisorFixture('throwing-service.mjs');

describe('the line of an internal error', () => {
  it('is pino-shaped JSON that the supervisor reads as an error with its fields', () => {
    const error = new Error('disk on fire');
    const line = internalErrorLine('files', error, 'files-7', 'GET /files/:id', 1_700_000_000_000);
    const parsed = JSON.parse(line);
    expect(parsed).toMatchObject({ level: 50, time: 1_700_000_000_000, service: 'files', requestId: 'files-7', route: 'GET /files/:id' });
    expect(parsed.err).toMatchObject({ type: 'Error', message: 'disk on fire' });
    expect(parsed.err.stack).toContain('disk on fire');
    const read = readChildLine('files', 0, 'stderr', line);
    expect(read.level).toBe('error');
    expect(read.msg).toMatch(/^GET \/files\/:id failed \(request files-7\): Error: disk on fire\n\s+at /);
    expect(read.fields).toMatchObject({ requestId: 'files-7', route: 'GET /files/:id' });
  });

  it('describes a thrown value that is not an Error', () => {
    const parsed = JSON.parse(internalErrorLine('s', 'just a string', 's-1', 'GET /x'));
    expect(parsed.err).toEqual({ type: 'string', message: 'just a string' });
    expect(parsed.msg).toBe('GET /x failed (request s-1): just a string');
  });
});

describe('a service whose handler throws', () => {
  it('under a supervisor: the 500 names a request id, and warren logs shows that id with route, message and stack', async () => {
    const base = mkdtempSync(join(tmpdir(), 'wr-boom-'));
    const socketDir = join(base, 'run');
    const config = parseConfig({ socketDir, services: [{ name: 'thrower', entry: THROWER, instances: 1 }] }, { baseDir: base, env: {} });
    // The log `warren up` makes (kept in memory for `warren logs`), writing its terminal output nowhere.
    const log = createSupervisorLog({ level: 'info', logDir: null, pretty: false, destination: new PassThrough().resume() });
    const supervisor = new Supervisor(config, { output: log, reportIntervalMs: 50 });
    const client = new ServiceClient({ socketDir, timeout: 30_000 });
    let control: Awaited<ReturnType<typeof connectControl>> | undefined;
    try {
      await supervisor.start();
      await until(() => instances(supervisor, 'thrower')[0]?.state === 'online', 'thrower online');
      const response = await client.service('thrower').get('/boom?tag=first');
      expect(response.status).toBe(500);
      const requestId = /\(request ([^)]+)\)/.exec((response.body as { error: { message: string } }).error.message)?.[1];
      expect(requestId, JSON.stringify(response.body)).toBeDefined();
      expect(JSON.stringify(response.body)).not.toContain('kaboom');

      control = await connectControl(socketDir);
      let found: LogRecord | undefined;
      await until(async () => {
        for await (const record of (control as NonNullable<typeof control>).logs({ service: 'thrower', lines: 200 })) {
          if (record.msg.includes(`request ${requestId}`)) found = record;
        }
        return found !== undefined;
      }, 'the error in warren logs');
      expect(found?.level).toBe('error');
      expect(found?.msg).toContain('GET /boom failed');
      expect(found?.msg).toContain('kaboom: first');
      expect(found?.msg).toMatch(/\n\s+at /);
    } finally {
      await control?.close();
      client.close();
      await supervisor.stop();
      rmSync(base, { recursive: true, force: true });
    }
  }, 60_000);

  it('with onInternalError: null answers the same 500 and logs nothing', async () => {
    const base = mkdtempSync(join(tmpdir(), 'wr-quiet-'));
    const socketDir = join(base, 'run');
    const proc = spawn(process.execPath, [THROWER], {
      env: { ...process.env, WARREN_SOCKET_DIR: socketDir, THROWING_QUIET: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    const client = new ServiceClient({ socketDir, timeout: 30_000 });
    try {
      await until(() => stderr.includes('ready on'), 'the quiet thrower to be ready');
      const response = await client.service('thrower').get('/boom?tag=quiet');
      expect(response.status).toBe(500);
      // A call after it: its answer comes after anything the failing call would have written.
      expect((await client.service('thrower').get('/ok')).body).toBe('ok');
      expect(stderr).not.toContain('kaboom');
      expect(stderr).not.toContain('"level"');
    } finally {
      client.close();
      proc.kill('SIGTERM');
      await exited;
      rmSync(base, { recursive: true, force: true });
    }
  }, 60_000);
});
