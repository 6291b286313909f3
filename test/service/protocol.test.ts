/**
 * The IPC messages of a service process are validated on receipt: those a real instance sends
 * parse, and anything malformed is refused (undefined) instead of being cast.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseServiceMessage, type ReportMessage } from '../../src/service/protocol.js';
import { isGone } from '../support/processes.js';

const RUN = fileURLToPath(new URL('../fixtures/service-run.mjs', import.meta.url));

describe('service process messages', () => {
  it('the ready message and a report of a real instance parse; malformed ones do not', async () => {
    const root = mkdtempSync(join(tmpdir(), 'warren-proto-'));
    const proc = spawn(process.execPath, [RUN], {
      env: { ...process.env, WARREN_SOCKET_DIR: join(root, 'run'), WARREN_REPORT_MS: '50', WARREN_INSTANCE: '3' },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    try {
      const messages: unknown[] = [];
      await new Promise<void>((resolve, reject) => {
        proc.on('message', (m) => {
          messages.push(m);
          if (messages.length === 2) resolve();
        });
        proc.once('exit', (code) => reject(new Error(`exited with ${code}`)));
      });
      const [ready, report] = messages.map(parseServiceMessage);
      expect(ready).toMatchObject({ warren: 'ready', service: 'runner', instance: 3, pid: proc.pid });
      expect(report).toMatchObject({ warren: 'report', service: 'runner', instance: 3, fds: { exhausted: false, count: 0 } });

      const good = report as ReportMessage;
      for (const bad of [
        null,
        'ready',
        [],
        { ...good, warren: 'other' },
        { ...good, instance: -1 },
        { ...good, pid: '1' },
        { ...good, rssBytes: Number.NaN },
        { ...good, metrics: null },
        { ...good, fds: { exhausted: 'no', code: null, lastAt: null, count: 0 } },
        { ...good, fds: undefined },
        { ...(ready as object), path: 42 },
      ]) {
        expect(parseServiceMessage(bad)).toBeUndefined();
      }
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGKILL');
        await exited;
      }
      expect(isGone(proc.pid as number)).toBe(true);
      rmSync(root, { recursive: true, force: true });
    }
  });
});
