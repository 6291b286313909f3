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
import { msgpackCodec } from '../../wire/msgpack.js';
import { encodeReply } from '../call-format.js';
import type { AuthInfo } from '../define.js';
import type { MetricsSnapshot } from '../metrics.js';
import { errorResponse } from '../response.js';
import { NatsLink } from './link.js';
import type { ResolvedNatsOptions } from './options.js';
import { ServiceApi } from './service-api.js';
import { callSubject, cancelSubject, HEADER, queueGroup } from './subjects.js';
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

export function serveOverNats(instance: NatsServable, options: ResolvedNatsOptions): NatsServing {
  const id = nuid.next();
  const link = new NatsLink(options, `warren ${instance.name}.${instance.instance} (pid ${process.pid})`);
  const api = new ServiceApi(instance, id);
  const running = new Map<string, NatsCallCancel>();
  const label = `${instance.name}.${instance.instance}`;
  let subscribedOn: NatsConnection | undefined;
  let calls: Subscription | undefined;
  let cancels: Subscription | undefined;
  let draining = false;

  const onCall = (msg: Msg) => {
    const respond = (reply: unknown) => {
      if (msg.reply === undefined || msg.reply === '') return;
      try {
        msg.respond(msgpackCodec.encode(reply));
      } catch (error) {
        // An answer that cannot be encoded is the caller's 500, as on a socket.
        msg.respond(
          msgpackCodec.encode(encodeReply(errorResponse(500, 'WARREN_INTERNAL', `the answer could not be sent: ${String(error)}`))),
        );
      }
    };
    const headers = msg.headers;
    const token = headers?.get(HEADER.token) ?? '';
    let auth: AuthInfo | null = null;
    if (token !== '') {
      if (!instance.verifyToken(token)) {
        respond(encodeReply(errorResponse(401, 'WARREN_UNAUTHORIZED', 'wrong Warren token (Warren-Token)')));
        return;
      }
      const client = headers?.get(HEADER.client) ?? '';
      auth = client === '' ? {} : { client: client.slice(0, 200) };
    }
    let params: unknown;
    try {
      params = msgpackCodec.decode(Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength));
    } catch {
      respond(
        encodeReply(errorResponse(400, 'WARREN_BAD_URL', 'a call over NATS is MessagePack [method, url, body?, headers?, requestId?]')),
      );
      return;
    }
    // The reply subject is the call's id: a cancel message names it.
    const callId = msg.reply ?? '';
    let cancel: NatsCallCancel | undefined;
    if (callId !== '') {
      cancel = new NatsCallCancel();
      running.set(callId, cancel);
    }
    const done = () => {
      if (cancel !== undefined) running.delete(callId);
    };
    let answer: unknown;
    try {
      answer = instance.call(params, auth, cancel ?? NO_CANCEL);
    } catch (error) {
      done();
      respond(encodeReply(errorResponse(500, 'WARREN_INTERNAL', `internal error: ${String(error)}`)));
      return;
    }
    if (answer instanceof Promise) {
      answer.then(
        (reply: unknown) => {
          done();
          respond(reply);
        },
        (error: unknown) => {
          done();
          respond(encodeReply(errorResponse(500, 'WARREN_INTERNAL', `internal error: ${String(error)}`)));
        },
      );
      return;
    }
    done();
    respond(answer);
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
      cancels = connection.subscribe(cancelSubject(instance.name), {
        callback: (error, msg) => {
          if (error !== null || msg.data.length > 256) return;
          running.get(new TextDecoder().decode(msg.data))?.cancel();
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
      api.unsubscribe();
      // Flushed so that NATS stops routing calls here before the instance says it is drained.
      await link.connection?.flush().catch(() => {});
    },
    async close() {
      cancels?.unsubscribe();
      await link.close();
    },
    destroy() {
      draining = true;
      void link.close();
    },
  };
}
