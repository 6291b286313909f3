/**
 * Serves a service instance on NATS as well as on its socket: calls arrive on
 * `warren.svc.<service>.call` in the queue group `<service>` (NATS gives each call to one
 * instance, on whatever host), in the same call format and through the same dispatcher as on
 * the socket; Warren's token is checked on every call (header Warren-Token). The instance also
 * answers the NATS service API ($SRV, service-api.ts) and listens for cancellations on
 * `warren.svc.<service>.cancel`. docs/protocol.md, "Service calls over NATS", is the spec.
 *
 * Loaded only when the transport is `nats` (server.ts imports it on demand). NATS unreachable
 * does not stop the instance: it serves on its socket and joins NATS once it can.
 */

import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { nuid } from '@nats-io/transport-node';
import { CancelledError } from '../../errors.js';
import { isAsyncIterable } from '../../util/guards.js';
import { msgpackCodec } from '../../wire/msgpack.js';
import { encodeReply } from '../call-format.js';
import type { AuthInfo } from '../define.js';
import type { MetricsSnapshot } from '../metrics.js';
import type { PublishedRoute } from '../published-routes.js';
import { errorResponse } from '../response.js';
import { NatsLink } from './link.js';
import type { ResolvedNatsOptions } from './options.js';
import { ServiceApi } from './service-api.js';
import { batchSubject, callSubject, cancelSubject, HEADER, MAX_BATCH, queueGroup, routesSubject } from './subjects.js';
import type { NatsServing } from './types.js';

export type { NatsServing } from './types.js';

/** What of a service instance this needs (ServiceInstance is one). */
export interface NatsServable {
  readonly name: string;
  readonly instance: number;
  readonly metrics: { snapshot(): MetricsSnapshot };
  readonly inFlight: number;
  readonly isDraining: boolean;
  /** The instance's call entry: params in, encoded answer (or its promise) out; the same as for a socket's warren.call. */
  call(params: unknown, auth: AuthInfo | null, cancel: { readonly signal: AbortSignal }): unknown;
  /** Checks a presented Warren token in constant time. */
  verifyToken(presented: string): boolean;
  /** The routes as `warren.routes` answers them (§13.5). */
  publishedRoutes(): Promise<readonly PublishedRoute[]>;
}

/** A call's cancellation, its AbortSignal made only if the handler reads it (as for socket calls). */
class NatsCallCancel {
  private controller: AbortController | undefined;
  private cancelled = false;
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.cancelled) this.controller.abort(new CancelledError('the caller cancelled the call'));
    }
    return this.controller.signal;
  }
  cancel(): void {
    this.cancelled = true;
    this.controller?.abort(new CancelledError('the caller cancelled the call'));
  }
}

const NO_CANCEL = { signal: new AbortController().signal };

const WRONG_TOKEN = encodeReply(errorResponse(401, 'WARREN_UNAUTHORIZED', 'wrong Warren token (Warren-Token)'));
const NOT_A_CALL = encodeReply(
  errorResponse(400, 'WARREN_BAD_URL', 'a call over NATS is MessagePack [method, url, body?, headers?, requestId?]'),
);
const NOT_A_BATCH = encodeReply(
  errorResponse(400, 'WARREN_BAD_URL', `a batch over NATS is a MessagePack array of 1 to ${MAX_BATCH} calls`),
);

const STREAM_REFUSED = encodeReply(
  errorResponse(500, 'WARREN_INTERNAL', 'a streamed answer cannot cross NATS (protocol §15.4): call this route over the socket'),
);

function internalError(error: unknown): unknown {
  return encodeReply(errorResponse(500, 'WARREN_INTERNAL', `internal error: ${String(error)}`));
}

function decodePayload(msg: Msg): unknown {
  return msgpackCodec.decode(Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength));
}

/** Sends an answer (or a batch's answers); one that cannot be encoded is the caller's 500, as on a socket. */
function respondTo(msg: Msg, answer: unknown): void {
  try {
    msg.respond(msgpackCodec.encode(answer));
  } catch (error) {
    msg.respond(msgpackCodec.encode(encodeReply(errorResponse(500, 'WARREN_INTERNAL', `the answer could not be sent: ${String(error)}`))));
  }
}

/** A batch's answers; one that cannot be encoded becomes that call's 500, the others go as they are. */
function respondBatch(msg: Msg, answers: unknown[]): void {
  let payload: ReturnType<typeof msgpackCodec.encode>;
  try {
    payload = msgpackCodec.encode(answers);
  } catch {
    payload = msgpackCodec.encode(
      answers.map((answer) => {
        try {
          msgpackCodec.encode(answer);
          return answer;
        } catch (error) {
          const index = (answer as unknown[])[0];
          return tagged(
            index as number,
            encodeReply(errorResponse(500, 'WARREN_INTERNAL', `the answer could not be sent: ${String(error)}`)),
          );
        }
      }),
    );
  }
  msg.respond(payload);
}

/** A batch answer: `[index, status, body, headers?]`, from an answer `[status, body, headers?]`. */
function tagged(index: number, answer: unknown): unknown[] {
  const [status, body, headers] = answer as unknown[];
  return headers === undefined ? [index, status, body] : [index, status, body, headers];
}

export function serveOverNats(instance: NatsServable, options: ResolvedNatsOptions): NatsServing {
  const id = nuid.next();
  const link = new NatsLink(options, `warren ${instance.name}.${instance.instance} (pid ${process.pid})`);
  const api = new ServiceApi(instance, id);
  const running = new Map<string, NatsCallCancel>();
  const label = `${instance.name}.${instance.instance}`;
  let subscribedOn: NatsConnection | undefined;
  let calls: Subscription | undefined;
  let batches: Subscription | undefined;
  let cancels: Subscription | undefined;
  let routes: Subscription | undefined;
  let draining = false;

  /** Warren's token of a message: the caller's auth, or undefined when the token is wrong. */
  const authOf = (msg: Msg): AuthInfo | null | undefined => {
    const headers = msg.headers;
    const token = headers?.get(HEADER.token) ?? '';
    if (token === '') return null;
    if (!instance.verifyToken(token)) return undefined;
    const client = headers?.get(HEADER.client) ?? '';
    return client === '' ? {} : { client: client.slice(0, 200) };
  };

  /**
   * Runs one call; `done` gets its encoded answer, synchronously when the handler answered so.
   * `callId` names the call in cancel messages ('' when it cannot be cancelled).
   */
  const run = (params: unknown, auth: AuthInfo | null, callId: string, done: (answer: unknown) => void): void => {
    let cancel: NatsCallCancel | undefined;
    if (callId !== '') {
      cancel = new NatsCallCancel();
      running.set(callId, cancel);
    }
    const finish = (answer: unknown) => {
      if (cancel !== undefined) running.delete(callId);
      if (isAsyncIterable(answer)) {
        // A streamed answer (§13.2) is a socket's peer stream: it is ended unread, and the caller told why.
        void (answer as AsyncIterableIterator<unknown>).return?.();
        done(STREAM_REFUSED);
        return;
      }
      done(answer);
    };
    let answer: unknown;
    try {
      answer = instance.call(params, auth, cancel ?? NO_CANCEL);
    } catch (error) {
      finish(internalError(error));
      return;
    }
    if (answer instanceof Promise) answer.then(finish, (error: unknown) => finish(internalError(error)));
    else finish(answer);
  };

  const onCall = (msg: Msg) => {
    const reply = msg.reply ?? '';
    const respond = (answer: unknown) => {
      if (reply !== '') respondTo(msg, answer);
    };
    const auth = authOf(msg);
    if (auth === undefined) {
      respond(WRONG_TOKEN);
      return;
    }
    let params: unknown;
    try {
      params = decodePayload(msg);
    } catch {
      respond(NOT_A_CALL);
      return;
    }
    // The reply subject is the call's id: a cancel message names it.
    run(params, auth, reply, respond);
  };

  /**
   * A batch (§15.6): several calls in one message, answered as they finish; the answers of
   * calls that finish in the same turn of the event loop leave in one message.
   */
  const onBatch = (msg: Msg) => {
    const reply = msg.reply ?? '';
    if (reply === '') return; // nobody to answer: a batch is never fire-and-forget
    const auth = authOf(msg);
    if (auth === undefined) {
      respondTo(msg, WRONG_TOKEN);
      return;
    }
    let calls: unknown;
    try {
      calls = decodePayload(msg);
    } catch {
      calls = undefined;
    }
    if (!Array.isArray(calls) || calls.length === 0 || calls.length > MAX_BATCH) {
      respondTo(msg, NOT_A_BATCH);
      return;
    }
    let out: unknown[] | undefined;
    const flush = () => {
      const answers = out as unknown[];
      out = undefined;
      respondBatch(msg, answers);
    };
    for (let i = 0; i < calls.length; i++) {
      run(calls[i], auth, `${reply} ${i}`, (answer) => {
        if (out === undefined) {
          out = [];
          process.nextTick(flush);
        }
        out.push(tagged(i, answer));
      });
    }
  };

  /** §15.7: this instance's routes, to a caller with Warren's token. */
  const onRoutes = (msg: Msg) => {
    if (msg.reply === undefined || msg.reply === '') return;
    const auth = authOf(msg);
    if (auth === undefined || auth === null) {
      respondTo(msg, WRONG_TOKEN);
      return;
    }
    instance.publishedRoutes().then(
      (list) => respondTo(msg, encodeReply({ status: 200, body: list, headers: {} })),
      (error: unknown) => respondTo(msg, internalError(error)),
    );
  };

  link.listen({
    onUp: (connection) => {
      // The client restores its subscriptions after a reconnect; only a new connection needs them made.
      if (subscribedOn !== undefined) process.stderr.write(`${label}: connected to NATS again\n`);
      if (draining || subscribedOn === connection) return;
      subscribedOn = connection;
      calls = connection.subscribe(callSubject(instance.name), {
        queue: queueGroup(instance.name),
        callback: (error, msg) => {
          if (error === null) onCall(msg);
        },
      });
      batches = connection.subscribe(batchSubject(instance.name), {
        queue: queueGroup(instance.name),
        callback: (error, msg) => {
          if (error === null) onBatch(msg);
        },
      });
      cancels = connection.subscribe(cancelSubject(instance.name), {
        callback: (error, msg) => {
          if (error !== null || msg.data.length > 256) return;
          running.get(new TextDecoder().decode(msg.data))?.cancel();
        },
      });
      routes = connection.subscribe(routesSubject(instance.name, id), {
        callback: (error, msg) => {
          if (error === null) onRoutes(msg);
        },
      });
      api.subscribe(connection);
    },
    onDown: (reason) => {
      process.stderr.write(`${label}: ${reason}; serving its socket only until NATS is back (reconnecting)\n`);
    },
    onSlowConsumer: (subject, pending) => {
      process.stderr.write(
        `${label}: NATS subscription ${subject} is a slow consumer (${pending} pending): NATS drops messages past its limit\n`,
      );
    },
  });

  return {
    id,
    link,
    async drain() {
      if (draining) return;
      draining = true;
      calls?.unsubscribe();
      batches?.unsubscribe();
      api.unsubscribe();
      // Flushed so that NATS stops routing calls here before the instance says it is drained.
      await link.connection?.flush().catch(() => {});
    },
    async close() {
      cancels?.unsubscribe();
      routes?.unsubscribe();
      await link.close();
    },
    destroy() {
      draining = true;
      void link.close();
    },
  };
}
