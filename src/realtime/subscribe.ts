/**
 * A client's `subscribe` and `unsubscribe`. A subscribe is acked only once the connection is a
 * member, the Broadcaster's subscription is in place and (with `since`) what it missed is
 * written: no broadcast after the ack can be lost.
 */
import { badWsMessage } from '../errors.js';
import type { JoinAuthorizer } from './authorize.js';
import type { Connection } from './connection.js';
import type { Membership } from './membership.js';
import { channelKind, type WireMessage } from './protocol.js';
import type { Position } from './recovery.js';
import type { Resumer } from './resume.js';
import type { Registry } from './seams.js';

export interface SubscriptionsParts {
  authorizer: JoinAuthorizer;
  membership: Membership;
  resumer: Resumer;
  registry: Registry;
  /** false once the connection closed or was forgotten (an authorizer may take its time). */
  isOpen: (connection: Connection) => boolean;
}

export class Subscriptions {
  readonly #parts: SubscriptionsParts;

  constructor(parts: SubscriptionsParts) {
    this.#parts = parts;
  }

  /** Answers with the ack's data: the channel's position, `recovered` with `since`, `members` in presence. */
  async subscribe(connection: Connection, message: WireMessage): Promise<unknown> {
    const { authorizer, membership, resumer, registry, isOpen } = this.#parts;
    const channel = message.channel;
    if (channel === undefined) throw badWsMessage("subscribe needs 'channel'");
    const data = (typeof message.data === 'object' && message.data !== null ? message.data : {}) as Record<string, unknown>;
    const since = parseSince(data.since);
    if (!connection.in(channel)) {
      await authorizer.check(connection, channel, data);
      if (!isOpen(connection)) return undefined;
    }
    // A member at once; with `since` its live broadcasts wait until the missed ones are written.
    const joined = !connection.in(channel);
    const subscribed = joined ? membership.add(connection, channel) : undefined;
    const { position, recovered } = await resumer.open(connection, channel, since, subscribed);
    const ack: Record<string, unknown> = { channel, epoch: position.epoch, offset: position.offset };
    if (recovered !== undefined) ack.recovered = recovered;
    if (channelKind(channel) === 'presence') {
      if (joined) await membership.presenceJoin(connection, channel);
      ack.members = await registry.members(channel);
    }
    return ack;
  }

  async unsubscribe(connection: Connection, message: WireMessage): Promise<unknown> {
    const channel = message.channel;
    if (channel === undefined) throw badWsMessage("unsubscribe needs 'channel'");
    await this.#parts.membership.leave(connection, channel);
    return { channel };
  }
}

function parseSince(value: unknown): Position | undefined {
  if (value === undefined) return undefined;
  const { epoch, offset } = (value ?? {}) as { epoch?: unknown; offset?: unknown };
  if (typeof epoch !== 'string' || !Number.isSafeInteger(offset) || (offset as number) < 0) {
    throw badWsMessage("'since' must be { epoch: string, offset: integer >= 0 }");
  }
  return { epoch, offset: offset as number };
}
