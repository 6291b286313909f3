/**
 * Stream credit on both sides of a peer: the streams this side consumes (their items, their
 * end and the credit it grants) and the credit granted to the streams this side produces
 * (waited for by the producer's pump, banked when it arrives early). The flow-control rule
 * itself is in streams.ts; this keeps the per-request state of one connection.
 */
import { ProtocolError } from '../errors.js';
import type { Framing, RequestId } from '../wire/framing.js';
import { INITIAL_STREAM_CREDIT } from '../wire/header.js';
import { IncomingStream } from './streams.js';

export interface StreamCreditHost {
  readonly framing: Framing;
  readonly streamWindow: number;
  /** Whether frames may still be written. */
  canWrite(): boolean;
  /** A consumed stream finished: a graceful close may have been waiting for it. */
  streamFinished(): void;
}

export class StreamCredit {
  private readonly consuming = new Map<number, IncomingStream>();
  private readonly creditWaiters = new Map<RequestId, (credit: number) => void>();
  /** Credit that arrived while its producer still had some: kept, never dropped. */
  private readonly creditBank = new Map<RequestId, number>();

  constructor(private readonly host: StreamCreditHost) {}

  /** Streams this side consumes that have not ended. */
  get consumingCount(): number {
    return this.consuming.size;
  }

  // ---- consuming ------------------------------------------------------------------------

  /** The answer to request `id` opened a stream: grants the rest of the window at once. */
  openConsumer(id: number): IncomingStream {
    const { framing, streamWindow } = this.host;
    const stream = new IncomingStream(streamWindow, {
      credit: (n) => framing.writeCredit(id, n),
      cancel: () => {
        this.consuming.delete(id);
        if (this.host.canWrite()) framing.writeCancel(id);
        this.host.streamFinished();
      },
    });
    this.consuming.set(id, stream);
    const rest = streamWindow - INITIAL_STREAM_CREDIT;
    if (rest > 0) framing.writeCredit(id, rest);
    return stream;
  }

  /** Fails the stream consumed under `id`; false when there is none. */
  failConsumer(id: number, error: Error): boolean {
    const stream = this.consuming.get(id);
    if (stream === undefined) return false;
    this.consuming.delete(id);
    stream.fail(error);
    this.host.streamFinished();
    return true;
  }

  onItem(id: RequestId, value: unknown): void {
    const stream = this.consuming.get(id as number);
    if (stream && !stream.push(value)) {
      // The producer ignored its credit: that is a broken peer, not a slow consumer.
      this.consuming.delete(id as number);
      stream.fail(new ProtocolError('stream producer sent more items than its credit allowed'));
      this.host.framing.writeCancel(id);
      this.host.streamFinished();
    }
  }

  onEnd(id: RequestId): void {
    const stream = this.consuming.get(id as number);
    if (stream) {
      this.consuming.delete(id as number);
      stream.end();
      this.host.streamFinished();
    }
  }

  /** Fails every consumed stream (the connection is gone or will bring nothing more). */
  failConsumers(reason: Error): void {
    for (const stream of this.consuming.values()) stream.fail(reason);
    this.consuming.clear();
  }

  // ---- producing ------------------------------------------------------------------------

  /** Credit for a stream this side produces; banked while the producer is not waiting, if `answering`. */
  onCredit(id: RequestId, credit: number, answering: boolean): void {
    const wake = this.creditWaiters.get(id);
    if (wake) wake(credit);
    else if (answering) this.creditBank.set(id, (this.creditBank.get(id) ?? 0) + credit);
  }

  /** Resolves with the next credit granted for `id`; 0 when the producer must give up. */
  waitForCredit(id: RequestId): Promise<number> {
    const banked = this.creditBank.get(id);
    if (banked !== undefined) {
      this.creditBank.delete(id);
      return Promise.resolve(banked);
    }
    return new Promise<number>((resolve) => {
      this.creditWaiters.set(id, (n) => {
        this.creditWaiters.delete(id);
        resolve(n);
      });
    });
  }

  /** Wakes the producer of `id` with no credit (it was cancelled). */
  release(id: RequestId): void {
    this.creditWaiters.get(id)?.(0);
  }

  /** The request `id` is done: its banked credit goes. */
  forget(id: RequestId): void {
    this.creditBank.delete(id);
  }

  /** Ids of the producers waiting for credit now. */
  waitingProducers(): RequestId[] {
    return [...this.creditWaiters.keys()];
  }

  /** Wakes every producer with no credit and forgets all credit (the connection is gone). */
  releaseAll(): void {
    for (const wake of [...this.creditWaiters.values()]) wake(0);
    this.creditWaiters.clear();
    this.creditBank.clear();
  }
}
