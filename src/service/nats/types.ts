/**
 * What the rest of Warren sees of the NATS transport: plain interfaces, with no type of the NATS
 * client in them, so that the declarations of `warren/service` do not pull @nats-io's into a
 * program that type-checks them (its .d.ts do not pass exactOptionalPropertyTypes with skipLibCheck off).
 */

export type LinkState = 'connecting' | 'up' | 'down' | 'closed';

/** A NATS connection kept up in the background (link.ts). */
export interface NatsLinkView {
  readonly state: LinkState;
  /** Why it is not up ('' when it is). */
  readonly lastError: string;
  /** The server URLs, comma-separated, for messages. */
  readonly servers: string;
  /** Resolves once the NATS server has processed what was sent so far (at once when not up). */
  flush(): Promise<void>;
}

/** An instance's serving on NATS (nats-server.ts): drained, closed and destroyed with the instance. */
export interface NatsServing {
  /** This instance's id on NATS ($SRV replies, `$SRV.*.<name>.<id>`). */
  readonly id: string;
  readonly link: NatsLinkView;
  /** No new calls from NATS (the queue group gives them to other instances); $SRV stops answering. */
  drain(): Promise<void>;
  /** Flushes the answers on their way and closes the connection. */
  close(): Promise<void>;
  destroy(): void;
}

export interface NatsCallerOptions {
  /** This client's name (Warren-Client, and the connection's name on the NATS server). */
  readonly name: string;
  /** Warren's token, read when the first call needs it. */
  readonly token: () => Promise<string>;
  /** A call's deadline when it gives none, in ms. */
  readonly timeoutMs: number;
}

export interface NatsCallOptions {
  timeout?: number;
  signal?: AbortSignal;
}

/** One instance that answered `$SRV.PING`. */
export interface RemoteInstance {
  service: string;
  /** Its id on NATS (a nuid). */
  id: string;
  /** `warren.host` from its metadata; '' for a NATS service that is not Warren's. */
  host: string;
  /** Whether it is a Warren instance (its ping carries `warren.instance`). */
  warren: boolean;
}
