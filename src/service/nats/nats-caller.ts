/**
 * Calls a service over NATS request/reply: the call in the same format as on a socket, Warren's
 * token in a header, a deadline per call. What can go wrong is told at once and by code:
 * - no instance subscribed anywhere: NATS answers "no responders" → WARREN_UNKNOWN_SERVICE;
 * - NATS down (unreachable since start-up, or lost) → WARREN_NATS_UNAVAILABLE, without waiting
 *   for the deadline, and calls in flight when the connection drops fail the same way then;
 * - no answer within the deadline → WARREN_TIMEOUT; the caller's signal → WARREN_CANCELLED.
 * The last two also publish on the call's cancel subject, so the instance running it can stop.
 * The connection is re-established in the background (link.ts).
 *
 * Calls made in one turn of the event loop to the same service leave together, as one batch
 * message (docs/protocol.md §15.6): NATS, the NATS client and the token check then cost once per
 * batch instead of once per call. A call alone in its turn goes as a plain call.
 */
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';
import { CancelledError, FrameTooLargeError, natsUnavailable, TimeoutError, unknownService } from '../../errors.js';
import { msgpackCodec } from '../../wire/msgpack.js';
import { decodeReply } from '../call-format.js';
import type { ServiceResponse } from '../define.js';
import type { PublishedRoute } from '../published-routes.js';
import { messageOf, NatsLink } from './link.js';
import type { ResolvedNatsOptions } from './options.js';
import { pingInstances, type RemoteInstance, requestRoutes } from './remote-instances.js';
import { batchSubject, callSubject, cancelSubject, HEADER, MAX_BATCH } from './subjects.js';
import type { NatsCallerOptions, NatsCallOptions } from './types.js';

export type { NatsCallerOptions, NatsCallOptions } from './types.js';

/** A call waiting for its answer. */
interface Pending {
  readonly service: string;
  readonly call: unknown[];
  readonly timeoutMs: number;
  resolve(response: ServiceResponse): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** Its id once sent: the reply subject of a plain call, `<reply> <index>` in a batch; '' while queued. */
  id: string;
  /** The batch it went in, and where. */
  batch: Batch | undefined;
  index: number;
  settled: boolean;
}

/** A batch in flight, by its reply subject: the calls not answered yet. */
interface Batch {
  readonly service: string;
  readonly entries: (Pending | undefined)[];
  left: number;
}

/**
 * Correlates answers itself, on one subscription to `<inbox>.*`, rather than with the NATS
 * client's request(): that makes a request object, an async-trace Error and a promise chain per
 * call, which cost more than the rest of a call over NATS together (bench/nats). The reply
 * subject `<inbox>.<n>` is also the call's id: its cancel message names it.
 */
export class NatsCaller {
  readonly link: NatsLink;
  /** Plain calls in flight, by reply subject. */
  private readonly pending = new Map<string, Pending>();
  /** Batches in flight, by reply subject. */
  private readonly batches = new Map<string, Batch>();
  /** Calls made in this turn of the event loop, by service: sent when it ends. */
  private readonly queued = new Map<string, Pending[]>();
  private flushScheduled = false;
  private token: string | undefined;
  private headers: MsgHdrs | undefined;
  private inbox = '';
  private subscribedOn: NatsConnection | undefined;
  private next = 0;

  constructor(
    options: ResolvedNatsOptions,
    private readonly settings: NatsCallerOptions,
  ) {
    this.link = new NatsLink(options, `warren client ${settings.name}`);
    this.link.listen({
      onUp: (connection) => {
        // The client restores its subscriptions after a reconnect; only a new connection needs one.
        if (this.subscribedOn === connection) return;
        this.subscribedOn = connection;
        this.inbox = createInbox();
        connection.subscribe(`${this.inbox}.*`, {
          callback: (error, msg) => {
            if (error === null) this.answer(msg);
          },
        });
      },
      onDown: (reason) => {
        // A reply published while the connection is down is lost: nothing in flight can be answered.
        const error = natsUnavailable(
          `${reason} while a call was in flight: it may or may not have run (reconnecting to ${this.link.servers} in the background)`,
        );
        for (const entry of [...this.pending.values()]) this.fail(entry, error);
        for (const batch of [...this.batches.values()]) for (const entry of batch.entries) if (entry) this.fail(entry, error);
      },
    });
  }

  /** Sends `call` ([method, url, body?, headers?]) to an instance of `service` anywhere on NATS. */
  async call(service: string, call: unknown[], options?: NatsCallOptions): Promise<ServiceResponse> {
    const timeoutMs = options?.timeout ?? this.settings.timeoutMs;
    const startedAt = Date.now();
    if (this.link.state === 'connecting') await withinMs(this.link.settled, timeoutMs);
    if (this.headers === undefined) await this.makeHeaders();
    const first = await this.once(service, call, timeoutMs, options?.signal);
    // An instance that was draining did not run the call: another one may (once).
    if (first.status === 503 && isDraining(first)) {
      const left = timeoutMs - (Date.now() - startedAt);
      if (left > 0) return this.once(service, call, left, options?.signal);
    }
    return first;
  }

  /** The same headers on every call and request: made once. */
  private async makeHeaders(): Promise<MsgHdrs> {
    this.token ??= await this.settings.token();
    const headers = natsHeaders();
    headers.set(HEADER.token, this.token);
    headers.set(HEADER.client, this.settings.name);
    this.headers = headers;
    return headers;
  }

  /** The instances on NATS that answer `$SRV.PING` within `waitMs`; none while NATS is down. */
  async instances(waitMs: number): Promise<RemoteInstance[]> {
    if (this.link.state === 'connecting') await withinMs(this.link.settled, waitMs).catch(() => {});
    const connection = this.link.connection;
    if (!this.isUp() || connection === undefined) return [];
    return pingInstances(connection, waitMs);
  }

  /** One instance's routes (protocol §15.7). */
  async routesOf(instance: { service: string; id: string }, timeoutMs: number): Promise<PublishedRoute[]> {
    const headers = this.headers ?? (await this.makeHeaders());
    const connection = this.link.connection;
    if (!this.isUp() || connection === undefined) throw this.unreachable(instance.service);
    return requestRoutes(connection, instance, headers, timeoutMs);
  }

  /** Queues a call for the end of this turn of the event loop; its deadline runs from now. */
  private once(service: string, call: unknown[], timeoutMs: number, signal: AbortSignal | undefined): Promise<ServiceResponse> {
    if (!this.isUp()) return Promise.reject(this.unreachable(service));
    if (signal?.aborted) return Promise.reject(new CancelledError());
    return new Promise<ServiceResponse>((resolve, reject) => {
      const entry: Pending = {
        service,
        call,
        timeoutMs,
        resolve,
        reject,
        timer: undefined,
        signal: undefined,
        onAbort: undefined,
        id: '',
        batch: undefined,
        index: 0,
        settled: false,
      };
      entry.timer = setTimeout(() => {
        this.cancel(entry);
        this.fail(
          entry,
          new TimeoutError('warren.call', timeoutMs, `call to service '${service}' over NATS got no answer within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      if (signal !== undefined) {
        entry.signal = signal;
        entry.onAbort = () => {
          this.cancel(entry);
          this.fail(entry, new CancelledError());
        };
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      const queue = this.queued.get(service);
      if (queue === undefined) this.queued.set(service, [entry]);
      else queue.push(entry);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // After the promise callbacks of this turn: the calls they make join the same batch.
        process.nextTick(() => this.flush());
      }
    });
  }

  private isUp(): boolean {
    const connection = this.link.connection;
    return this.link.state === 'up' && connection !== undefined && this.subscribedOn === connection;
  }

  private unreachable(service: string): Error {
    return natsUnavailable(
      `cannot call service '${service}' over NATS: NATS at ${this.link.servers} is not reachable (${this.link.lastError}); reconnecting in the background`,
    );
  }

  /** Sends what this turn queued: a call alone as a plain call, several to one service as batches. */
  private flush(): void {
    this.flushScheduled = false;
    const queued = [...this.queued];
    this.queued.clear();
    for (const [service, queue] of queued) {
      const live = queue.filter((entry) => !entry.settled);
      if (live.length === 0) continue;
      if (!this.isUp()) {
        const error = this.unreachable(service);
        for (const entry of live) this.fail(entry, error);
        continue;
      }
      for (let from = 0; from < live.length; from += MAX_BATCH) this.send(service, live.slice(from, from + MAX_BATCH));
    }
  }

  private send(service: string, entries: Pending[]): void {
    const connection = this.link.connection as NatsConnection;
    // NATS refuses a message over its max_payload (1 MiB by default): said before it is sent.
    const maxPayload = connection.info?.max_payload ?? Number.POSITIVE_INFINITY;
    const single = entries.length === 1;
    const payload = msgpackCodec.encode(single ? (entries[0] as Pending).call : entries.map((entry) => entry.call));
    if (payload.length > maxPayload) {
      if (single) {
        this.fail(entries[0] as Pending, new FrameTooLargeError(payload.length, maxPayload));
        return;
      }
      const half = Math.ceil(entries.length / 2);
      this.send(service, entries.slice(0, half));
      this.send(service, entries.slice(half));
      return;
    }
    const reply = `${this.inbox}.${(++this.next).toString(36)}`;
    let subject: string;
    if (single) {
      const entry = entries[0] as Pending;
      entry.id = reply;
      this.pending.set(reply, entry);
      subject = callSubject(service);
    } else {
      const batch: Batch = { service, entries, left: entries.length };
      entries.forEach((entry, index) => {
        entry.id = `${reply} ${index}`;
        entry.batch = batch;
        entry.index = index;
      });
      this.batches.set(reply, batch);
      subject = batchSubject(service);
    }
    try {
      connection.publish(subject, payload, { reply, headers: this.headers as MsgHdrs });
    } catch (error) {
      const failure = natsUnavailable(`call to service '${service}' over NATS could not be sent: ${messageOf(error)}`, { cause: error });
      for (const entry of entries) this.fail(entry, failure);
    }
  }

  /** An answer, a batch's answers, or NATS saying no instance listens (status 503 with no payload). */
  private answer(msg: Msg): void {
    const entry = this.pending.get(msg.subject);
    if (entry !== undefined) {
      this.answerOne(entry, msg);
      return;
    }
    const batch = this.batches.get(msg.subject);
    if (batch !== undefined) this.answerBatch(batch, msg);
    // Otherwise answered after its deadline or cancellation.
  }

  private answerOne(entry: Pending, msg: Msg): void {
    if (isNoResponders(msg)) {
      this.fail(entry, this.noInstance(entry.service));
      return;
    }
    let response: ServiceResponse;
    try {
      response = decodeReply(decode(msg));
    } catch (error) {
      this.fail(entry, error as Error);
      return;
    }
    if (this.settle(entry)) entry.resolve(response);
  }

  private answerBatch(batch: Batch, msg: Msg): void {
    const waiting = () => batch.entries.filter((entry): entry is Pending => entry !== undefined);
    if (isNoResponders(msg)) {
      const error = this.noInstance(batch.service);
      for (const entry of waiting()) this.fail(entry, error);
      return;
    }
    let answers: unknown;
    try {
      answers = decode(msg);
    } catch (error) {
      for (const entry of waiting()) this.fail(entry, error as Error);
      return;
    }
    // `[status, body, headers?]`: one answer for the whole batch (a wrong token, a payload that is not a batch).
    if (!Array.isArray(answers) || !Array.isArray(answers[0])) {
      let response: ServiceResponse;
      try {
        response = decodeReply(answers);
      } catch (error) {
        for (const entry of waiting()) this.fail(entry, error as Error);
        return;
      }
      for (const entry of waiting()) if (this.settle(entry)) entry.resolve(response);
      return;
    }
    for (const tagged of answers as unknown[][]) {
      const entry = batch.entries[tagged[0] as number];
      if (entry === undefined) continue; // settled already (deadline, cancelled), or no such index
      let response: ServiceResponse;
      try {
        response = decodeReply(tagged, 1);
      } catch (error) {
        this.fail(entry, error as Error);
        continue;
      }
      if (this.settle(entry)) entry.resolve(response);
    }
  }

  private noInstance(service: string): Error {
    return unknownService(`no instance of service '${service}' on this host nor on NATS at ${this.link.servers}`);
  }

  private fail(entry: Pending, error: Error): void {
    if (this.settle(entry)) entry.reject(error);
  }

  /** Takes a call out of the waiting ones (its timer and abort listener gone); false when it was settled already. */
  private settle(entry: Pending): boolean {
    if (entry.settled) return false;
    entry.settled = true;
    clearTimeout(entry.timer);
    if (entry.onAbort !== undefined) entry.signal?.removeEventListener('abort', entry.onAbort);
    const batch = entry.batch;
    if (batch === undefined) {
      if (entry.id !== '') this.pending.delete(entry.id);
    } else {
      batch.entries[entry.index] = undefined;
      if (--batch.left === 0) this.batches.delete(entry.id.slice(0, entry.id.indexOf(' ')));
    }
    return true;
  }

  /** Best effort: the instance running the call stops its handler, if the message gets there. */
  private cancel(entry: Pending): void {
    if (entry.id === '' || entry.settled) return; // not sent yet: it never will be
    const connection = this.link.connection;
    if (this.link.state !== 'up' || connection === undefined) return;
    try {
      connection.publish(cancelSubject(entry.service), entry.id);
    } catch {
      // The connection went meanwhile: nothing runs that could be told.
    }
  }

  close(): Promise<void> {
    return this.link.close();
  }
}

function isNoResponders(msg: Msg): boolean {
  return msg.data.length === 0 && msg.headers?.code === 503;
}

function decode(msg: Msg): unknown {
  return msgpackCodec.decode(Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength));
}

function isDraining(response: ServiceResponse): boolean {
  const body = response.body as { error?: { code?: unknown } } | null;
  return body?.error?.code === 'WARREN_DRAINING';
}

/** Waits for `promise`, but no longer than `ms` (the caller's deadline). */
function withinMs(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
}
