/**
 * The peer as an implementer in another language meets it: frames written by hand over a real
 * Unix socket (raw-client.ts), answers read frame by frame. Each test checks one statement of
 * docs/protocol.md that a Peer-to-Peer test cannot see.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Peer } from '../../src/peer/peer.js';
import { listenUnix } from '../../src/peer/transports/socket.js';
import { CodecId } from '../../src/wire/codecs.js';
import { FLAG_STREAM, FrameType } from '../../src/wire/header.js';
import { gate, until, useCleanup } from './helpers.js';
import { type RawClient, rawClient } from './raw-client.js';

const cleanup = useCleanup();

/** A listening peer whose handlers `setup` registers, and a raw client connected to it. */
async function serveRaw(
  setup: (peer: Peer) => void,
  options: { maxConcurrent?: number } = {},
): Promise<{ client: RawClient; server: () => Peer }> {
  const path = join(cleanup.tmpDir(), 'raw.sock');
  let server: Peer | undefined;
  cleanup.peerServer(
    await listenUnix(
      path,
      (peer) => {
        server = peer;
        setup(peer);
      },
      options,
    ),
  );
  const client = await rawClient(path, cleanup.defer);
  await until(() => server !== undefined);
  return { client, server: () => server as Peer };
}

const credit = (n: number) => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(n);
  return bytes;
};

describe('CREDIT (§3.1, §8.3)', () => {
  it('a CREDIT whose payload is not 4 bytes fails that stream with WARREN_PROTOCOL; the connection stays open', async () => {
    const stop = gate();
    let finallyRan = false;
    const { client } = await serveRaw((peer) => {
      peer.onRequest('count', () =>
        (async function* () {
          try {
            yield 0;
            await stop.promise;
            yield 1;
          } finally {
            finallyRan = true;
          }
        })(),
      );
      peer.onRequest('echo', (p) => p);
    });
    client.framing.writeRequest(5, 'count', undefined, CodecId.json);
    await client.waitFor((f) => f.type === FrameType.STREAM_ITEM && f.id === 5);
    client.writeFrame(FrameType.CREDIT, CodecId.raw, 0, 5, Buffer.alloc(3));
    const error = await client.waitFor((f) => f.type === FrameType.ERROR && f.id === 5);
    expect(error.codec).toBe(CodecId.json);
    expect(client.decode(error)).toMatchObject({ code: 'WARREN_PROTOCOL', message: 'credit frame with a 3-byte payload' });
    stop.open();
    await until(() => finallyRan, { message: 'the producer was stopped' });
    // Still open: a later request is answered, and nothing more came for request 5.
    client.framing.writeRequest(6, 'echo', 'still here', CodecId.json);
    const answer = await client.waitFor((f) => f.type === FrameType.RESPONSE && f.id === 6);
    expect(client.decode(answer)).toBe('still here');
    expect(client.frames.filter((f) => f.id === 5).map((f) => f.type)).toEqual([
      FrameType.RESPONSE,
      FrameType.STREAM_ITEM,
      FrameType.ERROR,
    ]);
  });

  it('a bad CREDIT for a request still running (not yet streaming) fails it, and its later result is not sent', async () => {
    const release = gate();
    const { client } = await serveRaw((peer) => {
      peer.onRequest('slow', async () => {
        await release.promise;
        return 'late';
      });
      peer.onRequest('echo', (p) => p);
    });
    client.framing.writeRequest(7, 'slow', undefined, CodecId.msgpack);
    client.writeFrame(FrameType.CREDIT, CodecId.raw, 0, 7, Buffer.alloc(8));
    const error = await client.waitFor((f) => f.type === FrameType.ERROR && f.id === 7);
    expect(client.decode(error)).toMatchObject({ code: 'WARREN_PROTOCOL' });
    release.open();
    client.framing.writeRequest(8, 'echo', 1, CodecId.msgpack);
    await client.waitFor((f) => f.id === 8);
    expect(client.frames.filter((f) => f.id === 7).map((f) => f.type)).toEqual([FrameType.ERROR]);
  });

  it('a bad CREDIT never touches a request this side sent with the same id', async () => {
    const { client, server } = await serveRaw(() => {});
    const outgoing = server().request('client.method', undefined, { timeout: 0 });
    const req = await client.waitFor((f) => f.type === FrameType.REQUEST);
    client.writeFrame(FrameType.CREDIT, CodecId.raw, 0, req.id, Buffer.alloc(0));
    client.framing.writeResponse(req.id, 'answered', false, CodecId.msgpack);
    expect(await outgoing).toBe('answered');
  });
});

describe('the end of a stream needs no credit (§9)', () => {
  for (const [title, ending] of [
    ['STREAM_END', 'end'],
    ['an ERROR ending it', 'throw'],
  ] as const) {
    it(`a consumer that grants exactly N items for N items gets ${title} without granting more`, async () => {
      const N = 5;
      const { client } = await serveRaw((peer) => {
        peer.onRequest('count', () =>
          (async function* () {
            for (let i = 0; i < N; i++) yield i;
            if (ending === 'throw') throw Object.assign(new Error('source failed'), { code: 'E_SOURCE' });
          })(),
        );
      });
      client.framing.writeRequest(3, 'count', undefined, CodecId.json);
      const open = await client.waitFor((f) => f.type === FrameType.RESPONSE && f.id === 3);
      expect(open.flags & FLAG_STREAM).toBe(FLAG_STREAM);
      // The producer starts with a credit of one item: N - 1 more make exactly N.
      client.writeFrame(FrameType.CREDIT, CodecId.raw, 0, 3, credit(N - 1));
      const last = await client.waitFor((f) => f.id === 3 && (f.type === FrameType.STREAM_END || f.type === FrameType.ERROR), title);
      const items = client.frames.filter((f) => f.type === FrameType.STREAM_ITEM && f.id === 3).map((f) => client.decode(f));
      expect(items).toEqual([0, 1, 2, 3, 4]);
      if (ending === 'end') expect(last.type).toBe(FrameType.STREAM_END);
      else expect([last.type, client.decode(last)]).toEqual([FrameType.ERROR, { code: 'E_SOURCE', message: 'source failed' }]);
    });
  }

  it('an empty stream ends with no credit granted at all beyond the first', async () => {
    const { client } = await serveRaw((peer) => {
      peer.onRequest('none', () => (async function* () {})());
    });
    client.framing.writeRequest(4, 'none', undefined, CodecId.json);
    await client.waitFor((f) => f.type === FrameType.STREAM_END && f.id === 4);
  });

  it('a producer out of credit still waits for credit before its next item', async () => {
    const { client } = await serveRaw((peer) => {
      peer.onRequest('count', () =>
        (async function* () {
          for (let i = 0; i < 3; i++) yield i;
        })(),
      );
      peer.onRequest('echo', (p) => p);
    });
    client.framing.writeRequest(9, 'count', undefined, CodecId.json);
    await client.waitFor((f) => f.type === FrameType.STREAM_ITEM && f.id === 9);
    // A round trip on the same connection: had a second item been sent, it would be here first.
    client.framing.writeRequest(10, 'echo', 1, CodecId.json);
    await client.waitFor((f) => f.id === 10);
    expect(client.frames.filter((f) => f.id === 9).map((f) => f.type)).toEqual([FrameType.RESPONSE, FrameType.STREAM_ITEM]);
    client.writeFrame(FrameType.CREDIT, CodecId.raw, 0, 9, credit(2));
    await client.waitFor((f) => f.type === FrameType.STREAM_END && f.id === 9);
  });
});

describe('an answer is written in the request codec; JSON where that codec cannot carry it (§4.1)', () => {
  const echoAll = (peer: Peer) => {
    peer.onRequest('echo', (p) => p);
    peer.onRequest('object', (_p, ctx) => {
      ctx.progress({ done: 1 });
      return { ok: true };
    });
    peer.onRequest('text', () => 'plain');
    peer.onRequest('fail', () => {
      throw Object.assign(new Error('nope'), { code: 'E_NOPE' });
    });
    peer.onRequest('items', () =>
      (async function* () {
        yield { n: 0 };
      })(),
    );
  };

  it('an undecodable request is answered WARREN_CODEC in its own codec (JSON stays JSON)', async () => {
    const { client } = await serveRaw(echoAll);
    const method = Buffer.from('\x04echo', 'latin1');
    client.writeFrame(FrameType.REQUEST, CodecId.json, 0, 1, Buffer.concat([method, Buffer.from('{"a":')]));
    client.writeFrame(FrameType.REQUEST, CodecId.msgpack, 0, 2, Buffer.concat([method, Buffer.from('de0005', 'hex')]));
    // No complete method name: the codec byte is still known.
    client.writeFrame(FrameType.REQUEST, CodecId.json, 0, 3, Buffer.from([9, 0x61]));
    for (const [id, codec] of [
      [1, CodecId.json],
      [2, CodecId.msgpack],
      [3, CodecId.json],
    ] as const) {
      const error = await client.waitFor((f) => f.type === FrameType.ERROR && f.id === id);
      expect([id, error.codec]).toEqual([id, codec]);
      expect(client.decode(error)).toMatchObject({ code: 'WARREN_CODEC' });
    }
  });

  it('a request in an unknown codec, or a raw one, gets its error in JSON', async () => {
    const { client } = await serveRaw(echoAll);
    client.writeFrame(FrameType.REQUEST, 200, 0, 4, Buffer.from('\x04echo', 'latin1'));
    client.framing.writeRequest(5, 'fail', Buffer.from('x'), CodecId.raw);
    client.framing.writeRequest(6, 'missing', Buffer.from('x'), CodecId.raw);
    for (const [id, code] of [
      [4, 'WARREN_CODEC'],
      [5, 'E_NOPE'],
      [6, 'WARREN_NO_HANDLER'],
    ] as const) {
      const error = await client.waitFor((f) => f.type === FrameType.ERROR && f.id === id);
      expect([id, error.codec]).toEqual([id, CodecId.json]);
      expect(JSON.parse(error.payload.toString('utf8'))).toMatchObject({ code });
    }
  });

  it('a raw request answered with objects (result, progress, stream items) gets them in JSON; bytes and strings stay raw', async () => {
    const { client } = await serveRaw(echoAll);
    client.framing.writeRequest(7, 'object', Buffer.from('x'), CodecId.raw);
    client.framing.writeRequest(8, 'text', Buffer.from('x'), CodecId.raw);
    client.framing.writeRequest(9, 'echo', Buffer.from('bytes'), CodecId.raw);
    client.framing.writeRequest(10, 'items', Buffer.from('x'), CodecId.raw);
    const progress = await client.waitFor((f) => f.type === FrameType.PROGRESS && f.id === 7);
    expect([progress.codec, JSON.parse(progress.payload.toString())]).toEqual([CodecId.json, { done: 1 }]);
    const result = await client.waitFor((f) => f.type === FrameType.RESPONSE && f.id === 7);
    expect([result.codec, JSON.parse(result.payload.toString())]).toEqual([CodecId.json, { ok: true }]);
    const text = await client.waitFor((f) => f.type === FrameType.RESPONSE && f.id === 8);
    expect([text.codec, text.payload.toString()]).toEqual([CodecId.raw, 'plain']);
    const bytes = await client.waitFor((f) => f.type === FrameType.RESPONSE && f.id === 9);
    expect([bytes.codec, bytes.payload.toString()]).toEqual([CodecId.raw, 'bytes']);
    const item = await client.waitFor((f) => f.type === FrameType.STREAM_ITEM && f.id === 10);
    expect([item.codec, JSON.parse(item.payload.toString())]).toEqual([CodecId.json, { n: 0 }]);
  });

  it('a JSON-only client never receives a frame in another codec, errors included', async () => {
    const { client } = await serveRaw(echoAll, { maxConcurrent: 1 });
    client.framing.writeRequest(20, 'object', undefined, CodecId.json);
    client.framing.writeRequest(21, 'missing', 1, CodecId.json);
    client.framing.writeRequest(22, 'fail', 1, CodecId.json);
    client.framing.writeRequest(23, 'items', 1, CodecId.json);
    client.writeFrame(FrameType.REQUEST, CodecId.json, 0, 24, Buffer.from('\x04echo{', 'latin1'));
    await client.waitFor((f) => f.id === 24 && f.type === FrameType.ERROR);
    await client.waitFor((f) => f.id === 23 && f.type === FrameType.STREAM_END);
    const answered = client.frames.filter((f) => f.payload.length > 0);
    expect(answered.length).toBeGreaterThanOrEqual(6);
    for (const f of answered) expect([f.type, f.id, f.codec]).toEqual([f.type, f.id, CodecId.json]);
  });
});

describe('what a receiver does with odd ids, NOTIFY ids, big integers (§2.2, §8.4)', () => {
  it('a REQUEST with id 0 is never run nor answered: it is reported as a bad message', async () => {
    let ran = 0;
    const bad: string[] = [];
    const { client } = await serveRaw((peer) => {
      peer.on('badMessage', (e) => bad.push(e.code));
      peer.onRequest('echo', (p) => {
        ran++;
        return p;
      });
    });
    client.framing.writeRequest(0, 'echo', 'zero', CodecId.json);
    client.framing.writeRequest(1, 'echo', 'one', CodecId.json);
    await client.waitFor((f) => f.id === 1);
    expect(ran).toBe(1);
    expect(bad).toEqual(['WARREN_PROTOCOL']);
    expect(client.frames.map((f) => f.id)).toEqual([1]);
  });

  it('a second REQUEST reusing the id of one still being answered gets WARREN_PROTOCOL; the first goes on', async () => {
    const release = gate<string>();
    let started = 0;
    const { client } = await serveRaw((peer) => {
      peer.onRequest('slow', () => {
        started++;
        return release.promise;
      });
    });
    client.framing.writeRequest(11, 'slow', undefined, CodecId.json);
    client.framing.writeRequest(11, 'slow', undefined, CodecId.json);
    const error = await client.waitFor((f) => f.id === 11 && f.type === FrameType.ERROR);
    expect(client.decode(error)).toMatchObject({ code: 'WARREN_PROTOCOL' });
    expect(started).toBe(1);
    release.open('first');
    const answer = await client.waitFor((f) => f.id === 11 && f.type === FrameType.RESPONSE);
    expect(client.decode(answer)).toBe('first');
  });

  it('an id the caller cancelled may be reused at once, even while the cancelled handler still runs', async () => {
    const first = gate<string>();
    const { client } = await serveRaw((peer) => {
      peer.onRequest('first', () => first.promise);
      peer.onRequest('second', () => 'second answer');
    });
    client.framing.writeRequest(12, 'first', undefined, CodecId.json);
    client.framing.writeCancel(12);
    client.framing.writeRequest(12, 'second', undefined, CodecId.json);
    const answer = await client.waitFor((f) => f.id === 12);
    expect([answer.type, client.decode(answer)]).toEqual([FrameType.RESPONSE, 'second answer']);
    first.open('too late');
    client.framing.writeRequest(13, 'second', undefined, CodecId.json);
    await client.waitFor((f) => f.id === 13);
    expect(client.frames.filter((f) => f.id === 12)).toHaveLength(1);
  });

  it('a NOTIFY with a non-zero id is delivered as a notification; the id is ignored and nothing is answered', async () => {
    const got: unknown[] = [];
    const { client } = await serveRaw((peer) => {
      peer.onNotify('log', (p) => {
        got.push(p);
      });
      peer.onRequest('echo', (p) => p);
    });
    client.writeFrame(FrameType.NOTIFY, CodecId.json, 0, 77, Buffer.from('\x03log"hi"', 'latin1'));
    client.framing.writeRequest(1, 'echo', 1, CodecId.json);
    await client.waitFor((f) => f.id === 1);
    expect(got).toEqual(['hi']);
    expect(client.frames.map((f) => f.id)).toEqual([1]);
  });

  it('JSON integers above 2^53 arrive rounded to a double; a bigint cannot be sent in JSON (WARREN_CODEC)', async () => {
    const seen: unknown[] = [];
    const { client } = await serveRaw((peer) => {
      peer.onRequest('see', (p) => {
        seen.push(p);
        return 2n ** 60n;
      });
    });
    client.writeFrame(FrameType.REQUEST, CodecId.json, 0, 2, Buffer.from('\x03see{"n":9007199254740993}', 'latin1'));
    const error = await client.waitFor((f) => f.id === 2);
    expect(seen).toEqual([{ n: 9007199254740992 }]);
    expect([error.type, (client.decode(error) as { code: string }).code]).toEqual([FrameType.ERROR, 'WARREN_CODEC']);
  });
});

describe('a half-closed connection (§8.4)', () => {
  it('a peer whose readable side ended still answers the requests it received, then ends its own side', async () => {
    const release = gate();
    let serverPeer: Peer | undefined;
    const { client, server } = await serveRaw((peer) => {
      peer.onRequest('slow', async (p) => {
        await release.promise;
        return p;
      });
    });
    serverPeer = server();
    const outgoing = serverPeer.request('client.method', undefined, { timeout: 0 }).catch((e: unknown) => e);
    await client.waitFor((f) => f.type === FrameType.REQUEST);
    for (let id = 1; id <= 3; id++) client.framing.writeRequest(id, 'slow', id, CodecId.json);
    await until(() => (serverPeer as Peer).activeHandlers === 3);
    client.socket.end();
    // What the server itself awaits can never be answered now: it fails at once.
    expect(await outgoing).toMatchObject({ code: 'WARREN_PEER_CLOSED' });
    expect(client.ended).toBe(false);
    release.open();
    await until(() => client.ended, { message: 'the server ended its side after answering' });
    const answers = client.frames.filter((f) => f.type === FrameType.RESPONSE).map((f) => [f.id, client.decode(f)]);
    expect(answers).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
    await until(() => (serverPeer as Peer).closed);
  });

  it('with nothing to answer, the peer closes at once when the other side ends', async () => {
    const { client, server } = await serveRaw(() => {});
    const closed = new Promise<unknown>((resolve) => server().on('close', resolve));
    client.socket.end();
    expect(await closed).toBeUndefined();
    await until(() => client.ended);
  });
});
