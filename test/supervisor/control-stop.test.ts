// Stopping a supervisor while `warren logs -f` follows: the control server ends the follower's
// stream itself, instead of waiting for it (a follower never ends by itself) until the
// connection's close timeout and then cutting it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectControl } from '../../src/supervisor/control-client.js';
import { parseConfig, Supervisor, type SupervisorOutput } from '../../src/supervisor/index.js';
import { LogStore } from '../../src/supervisor/log-store.js';
import { supervisorFixture } from '../support/supervised.js';
import { until } from '../support/until.js';

const dirs: string[] = [];
const supervisors: Supervisor[] = [];
afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((s) => s.stop()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** An output that keeps every event in a LogStore, so that the control socket serves `logs`. */
function storeOutput(order: string[]): SupervisorOutput {
  const store = new LogStore(100);
  return {
    event: (level, service, instance, msg) => {
      if (msg === 'stopped') order.push('supervisor stopped');
      store.add({ time: Date.now(), level, service: service ?? 'supervisor', instance, stream: 'supervisor', msg, fields: {} });
    },
    line: () => {},
    logs: (options, signal) => store.logs(options, signal),
    close: async () => store.close(),
  };
}

describe('warren stop with a log follower connected', () => {
  it('ends the follow stream as done when the control socket closes, instead of holding the stop until it is cut', {
    timeout: 60_000,
  }, async () => {
    const base = mkdtempSync(join(tmpdir(), 'wr-'));
    dirs.push(base);
    const socketDir = join(base, 'run');
    const config = parseConfig(
      { socketDir, services: [{ name: 'echo', entry: supervisorFixture('echo-service.mjs'), readyTimeoutMs: 30_000 }] },
      { baseDir: base, env: {} },
    );
    const order: string[] = [];
    const supervisor = new Supervisor(config, { output: storeOutput(order) });
    supervisors.push(supervisor);
    await supervisor.start();

    const control = await connectControl(socketDir, { env: {} });
    const seen: string[] = [];
    const follower = (async () => {
      try {
        for await (const record of control.logs({ follow: true, lines: 0 })) seen.push(record.msg);
        order.push('follower ended');
      } catch (error) {
        order.push(`follower failed: ${(error as Error).message}`);
      }
    })();
    // Following: a line logged now reaches it.
    await until(async () => {
      await supervisor.reload('echo');
      return seen.length > 0;
    }, 'the follower to receive a line');

    const stopped = supervisor.stop('test').then(() => order.push('stop() resolved'));
    await follower;
    await stopped;
    // The stream ended from the supervisor's side as a stream that is done, not cut with
    // WARREN_PEER_CLOSED when the connection is destroyed after its close timeout.
    expect(order.filter((e) => e.startsWith('follower'))).toEqual(['follower ended']);
    // It saw the instances stop: the stream stays open while they drain.
    expect(seen.some((msg) => msg.startsWith('stopping'))).toBe(true);
    await control.close();
  });
});
