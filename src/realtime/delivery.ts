/**
 * The broadcast path: what the Broadcaster delivers is recorded for recovery, encoded and framed
 * once per format, and the same bytes are written to every member here (except its sender).
 */
import { type Envelope, unpackEnvelope } from './envelope.js';
import { isSeveral, type Membership } from './membership.js';
import type { Outbound } from './outbound.js';
import type { Position, RecoveryStore } from './recovery.js';
import { preparedBroadcast, type Resumer } from './resume.js';

export class Delivery {
  readonly #hubId: string;
  readonly #membership: Membership;
  readonly #recovery: RecoveryStore<Envelope>;
  readonly #resumer: Resumer;
  readonly #outbound: Outbound;

  constructor(hubId: string, membership: Membership, recovery: RecoveryStore<Envelope>, resumer: Resumer, outbound: Outbound) {
    this.#hubId = hubId;
    this.#membership = membership;
    this.#recovery = recovery;
    this.#resumer = resumer;
    this.#outbound = outbound;
  }

  /**
   * A broadcast from the Broadcaster (`position`: given by a shared recovery store): recorded
   * (also on a channel without members here), so a client that joins later can recover it.
   */
  deliver(channel: string, bytes: Uint8Array, position?: Position): void {
    const envelope = unpackEnvelope(bytes);
    if (envelope === undefined) return;
    const { offset } = this.#recovery.record(channel, envelope, position);
    const members = this.#membership.membersOf(channel);
    if (members === undefined) return;
    const prepared = preparedBroadcast(channel, envelope, offset);
    // Compared by number: a connection's id string is made only when asked for.
    const except = this.#seqOf(envelope.except);
    const resumer = this.#resumer.holding ? this.#resumer : undefined;
    if (!isSeveral(members)) {
      if (members.seq !== except && resumer?.hold(members, channel, prepared) !== true) this.#outbound.write(members, prepared);
      return;
    }
    for (const connection of members) {
      if (connection.seq !== except && resumer?.hold(connection, channel, prepared) !== true) this.#outbound.write(connection, prepared);
    }
  }

  /** The number of this hub's connection `id`, or -1 for another hub's or none. */
  #seqOf(id: string | undefined): number {
    const prefix = this.#hubId.length + 1;
    if (id === undefined || id.length <= prefix || !id.startsWith(this.#hubId) || id[this.#hubId.length] !== '.') return -1;
    return Number(id.slice(prefix));
  }
}
