/**
 * One NATS connection that a process keeps for as long as it needs it: opened in the background
 * (NATS unreachable at start-up does not stop a service from serving on its socket), reconnected
 * in the background forever, and telling whoever asks whether it is up right now, so a call can
 * fail at once instead of waiting for a server that is not there.
 */
import { readFileSync } from 'node:fs';
import {
  type Authenticator,
  connect,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
  type Status,
} from '@nats-io/transport-node';
import type { ResolvedNatsOptions } from './options.js';
import type { LinkState, NatsLinkView } from './types.js';

export type { LinkState } from './types.js';

export interface LinkEvents {
  /** Connected, the first time or again: subscriptions made before are live again. */
  onUp?: (connection: NatsConnection) => void;
  /** The connection was lost (it is being re-established). */
  onDown?: (reason: string) => void;
  /** A subscription fell behind (NATS dropped messages for it): bounded, and reported. */
  onSlowConsumer?: (subject: string, pending: number) => void;
}

/** Delay between attempts while NATS could not be reached at all (the client's own reconnects after that). */
const RETRY_MS = 1_000;

export class NatsLink implements NatsLinkView {
  state: LinkState = 'connecting';
  connection: NatsConnection | undefined;
  /** Why the link is not up, for error messages. */
  lastError = 'not connected yet';
  private readonly listeners = new Set<LinkEvents>();
  private firstAttempt: Promise<void>;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly options: ResolvedNatsOptions,
    /** This connection's name on the NATS server (`nats server report connections`). */
    private readonly name: string,
  ) {
    this.firstAttempt = this.attempt();
  }

  /** Resolves when the first attempt is over, connected or not (a call made at once waits for it). */
  get settled(): Promise<void> {
    return this.firstAttempt;
  }

  get servers(): string {
    return this.options.servers.join(',');
  }

  /** Adds listeners; returns their remover. onUp runs at once when already up. */
  listen(events: LinkEvents): () => void {
    this.listeners.add(events);
    if (this.state === 'up' && this.connection) events.onUp?.(this.connection);
    return () => this.listeners.delete(events);
  }

  private async attempt(): Promise<void> {
    let connection: NatsConnection;
    try {
      connection = await connect(connectionOptions(this.options, this.name));
    } catch (error) {
      if (this.state === 'closed') return;
      this.state = 'down';
      this.lastError = messageOf(error);
      // The client reconnects by itself only once it has connected once: until then, this does.
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        void this.attempt();
      }, RETRY_MS);
      this.retryTimer.unref();
      return;
    }
    if (this.state === 'closed') {
      void connection.close();
      return;
    }
    this.connection = connection;
    this.up();
    void this.watch(connection);
    void connection.closed().then((error) => {
      if (this.state === 'closed') return;
      // Closed without being asked (an auth error, reconnect attempts exhausted): start over.
      this.connection = undefined;
      this.down(error ? messageOf(error) : 'the connection was closed');
      this.retryTimer = setTimeout(() => void this.attempt(), RETRY_MS);
      this.retryTimer.unref();
    });
  }

  private async watch(connection: NatsConnection): Promise<void> {
    for await (const status of connection.status() as AsyncIterable<Status>) {
      if (status.type === 'disconnect') this.down(`lost the connection to NATS at ${status.server}`);
      else if (status.type === 'reconnect') this.up();
      else if (status.type === 'slowConsumer') {
        for (const listener of this.listeners) listener.onSlowConsumer?.(status.sub.getSubject(), status.pending);
      }
    }
  }

  private up(): void {
    this.state = 'up';
    this.lastError = '';
    const connection = this.connection as NatsConnection;
    for (const listener of this.listeners) listener.onUp?.(connection);
  }

  private down(reason: string): void {
    if (this.state === 'down') return;
    this.state = 'down';
    this.lastError = reason;
    for (const listener of this.listeners) listener.onDown?.(reason);
  }

  async flush(): Promise<void> {
    if (this.state === 'up') await this.connection?.flush();
  }

  /** Flushes what was published (replies on their way) and closes. Idempotent. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const connection = this.connection;
    this.connection = undefined;
    if (connection && !connection.isClosed()) {
      await connection.drain().catch(() => connection.close());
    }
  }
}

export function connectionOptions(options: ResolvedNatsOptions, name: string) {
  const authenticators: Authenticator[] = [];
  if (options.credsFile !== undefined) authenticators.push(credsAuthenticator(readFileSync(options.credsFile)));
  if (options.nkeyFile !== undefined)
    authenticators.push(nkeyAuthenticator(new TextEncoder().encode(readFileSync(options.nkeyFile, 'utf8').trim())));
  return {
    servers: [...options.servers],
    name,
    timeout: options.connectTimeoutMs,
    reconnect: true,
    // Forever: a service outlives a NATS restart, however long it takes.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // An Error made per request for its async stack trace costs more than the request itself.
    noAsyncTraces: true,
    ...(options.user === undefined ? {} : { user: options.user, pass: options.pass ?? '' }),
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(authenticators.length === 0 ? {} : { authenticator: authenticators }),
    ...(options.tls === undefined ? {} : { tls: { ...options.tls } }),
  };
}

export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
