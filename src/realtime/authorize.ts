/**
 * Who may join a channel: anyone a public one, only its user a user.<id>, and a private or
 * presence one whoever shows a valid channel token or is allowed by an authorizer.
 */
import { forbidden } from '../errors.js';
import type { Connection } from './connection.js';
import { channelKind, userChannel } from './protocol.js';
import { verifyChannelToken } from './tokens.js';

/** What an authorizer sees when a connection asks to join a private or presence channel. */
export interface AuthorizeRequest {
  connection: Connection;
  channel: string;
  /** The subscribe message's data (without the token). */
  data: Record<string, unknown>;
}

/** true: allow; false: deny (wins at once); undefined: no opinion. */
export type Authorizer = (request: AuthorizeRequest) => boolean | undefined | Promise<boolean | undefined>;

export class JoinAuthorizer {
  readonly #channelSecret: string | undefined;
  readonly #authorizers: { authorizer: Authorizer; priority: number }[] = [];

  constructor(channelSecret: string | undefined) {
    this.#channelSecret = channelSecret;
  }

  /** Adds an authorizer (see Hub.authorize); returns its remover. */
  add(authorizer: Authorizer, priority: number): () => void {
    const entry = { authorizer, priority };
    this.#authorizers.push(entry);
    // Stable: authorizers of one priority keep the order they were added in.
    this.#authorizers.sort((a, b) => b.priority - a.priority);
    return () => {
      const index = this.#authorizers.indexOf(entry);
      if (index >= 0) this.#authorizers.splice(index, 1);
    };
  }

  /** Resolves when `connection` may join `channel`; rejects with `forbidden` otherwise. */
  async check(connection: Connection, channel: string, data: Record<string, unknown>): Promise<void> {
    const kind = channelKind(channel);
    if (kind === 'public') return;
    if (kind === 'user') {
      if (connection.userId === undefined || channel !== userChannel(connection.userId))
        throw forbidden(`${channel} belongs to another user`);
      return;
    }
    const secret = this.#channelSecret;
    let allowed = secret !== undefined && data.token !== undefined && verifyChannelToken(secret, connection.id, channel, data.token);
    if (data.token !== undefined && !allowed) throw forbidden(`channel token for ${channel} is not valid`);
    const { token: _token, ...rest } = data;
    for (const { authorizer } of this.#authorizers) {
      const decision = await authorizer({ connection, channel, data: rest });
      if (decision === false) throw forbidden(`not allowed to join ${channel}`);
      if (decision === true) allowed = true;
    }
    if (!allowed) throw forbidden(`not allowed to join ${channel}`);
  }
}
