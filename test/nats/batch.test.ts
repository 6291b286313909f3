/**
 * Batches over NATS (docs/protocol.md §15.6): the calls a client makes in one turn of its event
 * loop to one service travel as one message on `warren.svc.<service>.batch` and are answered as
 * each finishes. Checked through ServiceClient, and byte-level with a raw NATS client as an
 * implementer in another language would send them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { until } from '../support/until.js';
import { natsFixtures, untilOnNats } from './support.js';

const { natsServer, socketDir, serviceProcess, client, natsConnection } = natsFixtures();

async function remoteSetup() {
  const nats = await natsServer();
  const serviceDir = await socketDir();
  const callerDir = await socketDir(serviceDir);
  const service = await serviceProcess(serviceDir, nats.url);
  const watcher = await natsConnection(nats.url);
  await untilOnNats(watcher, 'remote', 1);
  return { nats, serviceDir, service, watcher, remote: client(callerDir, nats.url).service('remote') };
}

/** Counts the messages published on `subject` until `stop` is called. */
function countMessages(connection: Awaited<ReturnType<typeof natsConnection>>, subject: string) {
  let count = 0;
  const sub = connection.subscribe(subject, {
    callback: () => {
      count++;
    },
  });
  return {
    get count() {
      return count;
    },
    async stop() {
      await connection.flush();
      sub.unsubscribe();
    },
  };
}

describe('batches over NATS', () => {
  it('calls made in one turn travel as one batch message, and each gets its own answer', async () => {
    const { watcher, remote } = await remoteSetup();
    await remote.get('/who'); // connected, token read: what follows is one turn
    const batches = countMessages(watcher, 'warren.svc.remote.batch');
    const plain = countMessages(watcher, 'warren.svc.remote.call');
    await watcher.flush();
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => remote.post('/echo', { i })));
    expect(answers.map((answer) => answer.body)).toEqual(Array.from({ length: 200 }, (_, i) => ({ echoed: { i } })));
    await batches.stop();
    await plain.stop();
    expect(batches.count).toBe(1);
    expect(plain.count).toBe(0);
    // A call alone in its turn stays a plain call.
    const alone = countMessages(watcher, 'warren.svc.remote.call');
    await watcher.flush();
    expect((await remote.post('/echo', 'x')).body).toEqual({ echoed: 'x' });
    await alone.stop();
    expect(alone.count).toBe(1);
  });

  it('a slow call does not hold back the others of its batch; cancelling one stops only its handler', async () => {
    const { remote } = await remoteSetup();
    await remote.get('/who');
    const abort = new AbortController();
    const slow = remote.get('/wait', { signal: abort.signal });
    const fast = remote.get('/wait?ms=1');
    const echo = remote.post('/echo', 1);
    expect((await fast).body).toEqual({ waited: true });
    expect((await echo).body).toEqual({ echoed: 1 });
    expect(((await remote.get('/counts')).body as { waiting: number }).waiting).toBe(1);
    abort.abort();
    await expect(slow).rejects.toMatchObject({ code: 'WARREN_CANCELLED' });
    await until(
      async () => ((await remote.get('/counts')).body as { cancelled: number }).cancelled === 1,
      'the slow handler to be aborted',
    );
    expect(((await remote.get('/counts')).body as { waiting: number }).waiting).toBe(0);
  });

  it('raw NATS: a batch is answered [index, status, body] per call; a wrong token or a bad payload is one answer for all', async () => {
    const { nats, serviceDir } = await remoteSetup();
    const raw = await natsConnection(nats.url);
    const token = readFileSync(path.join(serviceDir, '.auth_token'), 'utf8').trim();
    const withToken = natsHeaders();
    withToken.set('Warren-Token', token);

    // Answers may come in several messages; collect until every index is there.
    const inbox = `_INBOX.batchtest.${Date.now()}`;
    const received: unknown[][] = [];
    raw.subscribe(inbox, {
      callback: (_error, msg) => {
        received.push(unpack(msg.data));
      },
    });
    raw.publish(
      'warren.svc.remote.batch',
      pack([
        ['POST', '/echo', 'a'],
        ['GET', '/nowhere'],
        ['GET', '/wait?ms=5'],
      ]),
      {
        reply: inbox,
        headers: withToken,
      },
    );
    await until(() => received.flat().length === 3, 'the three answers');
    const byIndex = new Map(received.flat().map((tagged) => [(tagged as unknown[])[0], (tagged as unknown[]).slice(1)]));
    expect(byIndex.get(0)).toEqual([200, { echoed: 'a' }]);
    expect((byIndex.get(1) as unknown[])[0]).toBe(404);
    expect(byIndex.get(2)).toEqual([200, { waited: true }]);

    const wrong = natsHeaders();
    wrong.set('Warren-Token', 'f'.repeat(64));
    const refused = await raw.request('warren.svc.remote.batch', pack([['GET', '/open']]), { timeout: 2000, headers: wrong });
    expect(unpack(refused.data)).toMatchObject([401, { error: { code: 'WARREN_UNAUTHORIZED' } }]);
    // No token: public routes only, call by call.
    const anonymous = await raw.request(
      'warren.svc.remote.batch',
      pack([
        ['GET', '/open'],
        ['GET', '/who'],
      ]),
      { timeout: 2000 },
    );
    const tagged = unpack(anonymous.data) as unknown[][];
    expect(tagged.map((t) => [t[0], t[1]]).sort()).toEqual([
      [0, 200],
      [1, 401],
    ]);
    for (const bad of [pack('not a batch'), pack([]), Buffer.from([0xc1])]) {
      const answer = await raw.request('warren.svc.remote.batch', bad, { timeout: 2000, headers: withToken });
      expect(unpack(answer.data)).toMatchObject([400, { error: { code: 'WARREN_BAD_URL' } }]);
    }
  });

  it('the example of protocol.md §15.6 is the bytes the doc shows', () => {
    const doc = readFileSync(path.join(import.meta.dirname, '../../docs/protocol.md'), 'utf8');
    const hex = Buffer.from(
      pack([
        ['GET', '/a'],
        ['POST', '/b', 1],
      ]),
    )
      .toString('hex')
      .replace(/(..)(?!$)/g, '$1 ');
    expect(doc).toContain(`\`[["GET", "/a"], ["POST", "/b", 1]]\` is\n  \`${hex}\``);
  });

  it('a batch with no instance anywhere fails every call at once with WARREN_UNKNOWN_SERVICE', async () => {
    const nats = await natsServer();
    const callerDir = await socketDir();
    const nobody = client(callerDir, nats.url).service('nobody');
    const results = await Promise.allSettled([nobody.get('/a'), nobody.get('/b'), nobody.get('/c')]);
    expect(results.map((result) => (result.status === 'rejected' ? (result.reason as { code: string }).code : 'answered'))).toEqual([
      'WARREN_UNKNOWN_SERVICE',
      'WARREN_UNKNOWN_SERVICE',
      'WARREN_UNKNOWN_SERVICE',
    ]);
  });
});
