/**
 * The one registry of Warren error codes, fastify-style: each code with its description, the
 * HTTP status it maps to where one applies (the gateway answers with it) and the class that
 * carries it. docs/errors.md lists exactly these rows; test/errors.test.ts fails when the two
 * disagree, statuses and classes included.
 */

interface ErrorSpec {
  readonly description: string;
  /** The HTTP status a gateway answers with; absent where the error never reaches HTTP. */
  readonly status?: number;
  /** The class a caller can catch; `ServiceError` where a response with the status is sent. */
  readonly className: string;
}

export const ERRORS = {
  WARREN_PROTOCOL: {
    className: 'ProtocolError',
    status: 502,
    description: 'The byte stream does not follow the Warren wire protocol (bad magic, version, header check or frame type).',
  },
  WARREN_FRAME_TOO_LARGE: {
    className: 'FrameTooLargeError',
    status: 413,
    description: 'A frame announced a payload larger than the configured limit; nothing of it was buffered.',
  },
  WARREN_CODEC: { className: 'CodecError', description: 'A payload could not be encoded or decoded with its codec.' },
  WARREN_TIMEOUT: { className: 'TimeoutError', status: 504, description: 'A request got no response within its timeout.' },
  WARREN_CANCELLED: { className: 'CancelledError', description: 'The request was cancelled by its caller.' },
  WARREN_NO_HANDLER: { className: 'RemoteError', status: 501, description: 'No handler answered the method.' },
  WARREN_PEER_CLOSED: {
    className: 'PeerClosedError',
    status: 502,
    description: 'The other side closed, exited or crashed, or this peer was closed, before a response arrived.',
  },
  WARREN_QUEUE_FULL: {
    className: 'WarrenError',
    status: 503,
    description: 'The outbound queue is over its byte limit because the other side does not read fast enough.',
  },
  WARREN_OVERLOADED: {
    className: 'RemoteError',
    status: 503,
    description: 'The peer is running and queueing as many requests as it is allowed; the request was refused.',
  },
  WARREN_REMOTE_ERROR: {
    className: 'RemoteError',
    status: 500,
    description: 'A handler on the other side threw an error without a code of its own.',
  },
  WARREN_INVALID_ARGUMENT: { className: 'WarrenError', description: 'An option or argument is not valid; the message names it.' },
  WARREN_SPAWN: { className: 'WarrenError', description: 'A child process could not be started.' },
  WARREN_UNSUPPORTED: { className: 'WarrenError', description: 'The operation is not available on this framing or transport.' },
  WARREN_SOCKET_DIR: {
    className: 'SocketDirError',
    status: 503,
    description: 'The socket directory or its token file is missing or has the wrong type, owner, mode or content.',
  },
  WARREN_UNAUTHORIZED: { className: 'UnauthorizedError', status: 401, description: 'No token or a wrong token was presented.' },
  WARREN_NOT_FOUND: { className: 'ServiceError', status: 404, description: 'No route of the service matches the request path.' },
  WARREN_METHOD_NOT_ALLOWED: {
    className: 'ServiceError',
    status: 405,
    description: 'The request path matches routes of other methods only (with Allow).',
  },
  WARREN_BAD_URL: {
    className: 'ServiceError',
    status: 400,
    description: 'The request url is malformed (400) or over the length limit (414).',
  },
  WARREN_INVALID_ROUTE: {
    className: 'WarrenError',
    description: 'A route key does not parse or clashes with another route; raised when the routes are defined.',
  },
  WARREN_VALIDATION: {
    className: 'ServiceError',
    status: 400,
    description: 'The params, query or body of a request do not match the route schema (with the failing fields).',
  },
  WARREN_FORBIDDEN: { className: 'ServiceError', status: 403, description: 'The caller is known but not allowed to do this.' },
  WARREN_CORS_REFUSED: {
    className: 'ServiceError',
    status: 403,
    description: "A CORS preflight's origin, method or headers are not allowed by the gateway's cors rule for the path.",
  },
  WARREN_HANDLER_TIMEOUT: { className: 'ServiceError', status: 408, description: 'A service handler did not answer within its timeout.' },
  WARREN_DRAINING: {
    className: 'ServiceError',
    status: 503,
    description: 'The service instance is shutting down and takes no new calls; another instance can.',
  },
  WARREN_UNKNOWN_SERVICE: {
    className: 'WarrenError',
    status: 503,
    description: 'No instance of the named service has a socket in the socket directory (nor, with the nats transport, answers on NATS).',
  },
  WARREN_NATS_UNAVAILABLE: {
    className: 'WarrenError',
    status: 503,
    description:
      'A call over NATS could not be made or finished because the connection to NATS is down; the client reconnects in the background.',
  },
  WARREN_UNAVAILABLE: {
    className: 'UnavailableError',
    status: 503,
    description: 'No instance could take the call: every connect failed, or the instance went away before the call was written.',
  },
  WARREN_BAD_REQUEST: {
    className: 'ServiceError',
    status: 400,
    description:
      'An HTTP request the gateway cannot read: a malformed request line, header or body encoding, or a body that is not valid JSON.',
  },
  WARREN_BODY_TOO_LARGE: {
    className: 'ServiceError',
    status: 413,
    description: "An HTTP request body is over the gateway's bodyLimit; it was not read further nor forwarded.",
  },
  WARREN_RATE_LIMITED: {
    className: 'ServiceError',
    status: 429,
    description: "A client sent more requests than the gateway's rateLimit rule for the path allows; Retry-After says when to try again.",
  },
  WARREN_HEADERS_TOO_LARGE: {
    className: 'ServiceError',
    status: 431,
    description: "An HTTP request's headers are over the gateway's maxHeaderBytes (16 KiB); the connection is closed.",
  },
  WARREN_INTERNAL: {
    className: 'ServiceError',
    status: 500,
    description: 'A service handler failed unexpectedly; the caller gets the request id, the log gets the error.',
  },
  WARREN_ALREADY_RUNNING: {
    className: 'WarrenError',
    description: 'Another supervisor already runs on this socket directory; a second one refuses to start.',
  },
  WARREN_PORT_UNAVAILABLE: {
    className: 'WarrenError',
    description:
      "A service's shared `port` cannot be taken: another process listens on it, it needs privileges, or its host does not resolve.",
  },
  WARREN_CONFIG: {
    className: 'ConfigError',
    description:
      'The configuration (file, .env or WARREN_* environment variables) is missing, unreadable or not valid; the message lists every problem.',
  },
  WARREN_INSTANCE_ERRORED: {
    className: 'WarrenError',
    description: 'An instance is errored: the supervisor gave up restarting it. `warren status` and `warren up --detach` exit 1 with it.',
  },
  WARREN_NOT_ONLINE: {
    className: 'WarrenError',
    description: '`warren status --check` found an instance that is not online (starting, restarting, draining or stopped).',
  },
  WARREN_WS_BAD_MESSAGE: {
    className: 'WarrenError',
    description: 'A WebSocket message to the hub is not a protocol message (not decodable, no event, a bad channel name or id).',
  },
  WARREN_WS_NOT_SUBSCRIBED: {
    className: 'WarrenError',
    description: 'A WebSocket client sent an event to a channel it has not subscribed to.',
  },
  WARREN_BROADCAST_DROPPED: {
    className: 'WarrenError',
    description: "A broadcaster's buffer was full while the hub was unreachable: the broadcast was dropped and counted.",
  },
  WARREN_HUB_UNREACHABLE: {
    className: 'WarrenError',
    status: 503,
    description:
      "No hub answers on the socket directory's hub.sock (warren emit, broadcaster.flush); or the gateway cannot reach the hub of gateway.websocket (502 on the upgrade).",
  },
} as const satisfies Record<string, ErrorSpec>;

export type WarrenErrorCode = keyof typeof ERRORS;

/** Code → description, kept for callers of the first registry. */
export const ERROR_CODES: { readonly [C in WarrenErrorCode]: string } = Object.freeze(
  Object.fromEntries(Object.entries(ERRORS).map(([code, spec]) => [code, spec.description])) as { [C in WarrenErrorCode]: string },
);

/** The HTTP status that `code` maps to, or `undefined` for codes that never reach HTTP and unknown codes. */
export function httpStatusOf(code: string): number | undefined {
  return Object.hasOwn(ERRORS, code) ? (ERRORS[code as WarrenErrorCode] as ErrorSpec).status : undefined;
}

// Brands are Symbol.for keys, shared by every copy of Warren in a process, so that an error
// thrown by a second installed copy still passes `instanceof` and isWarrenError() here, as
// undici does. Each class brands its prototype with its own kind; the prototype chain then
// carries the brands of its ancestors too.
const BRAND = Symbol.for('warren.error');
const brandOf = (kind: string): symbol => Symbol.for(`warren.error.${kind}`);

function brand(target: { prototype: object; readonly kind: string }): void {
  Object.defineProperty(target.prototype, brandOf(target.kind), { value: true });
}

export class WarrenError extends Error {
  /** The brand a class checks in `instanceof` (see the Symbol.hasInstance below). */
  static readonly kind: string = 'WarrenError';

  readonly code: string;
  readonly data?: unknown;

  constructor(code: WarrenErrorCode | (string & {}), message: string, options?: { cause?: unknown; data?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    // Each class's name is its kind (a user's subclass without a kind of its own: 'WarrenError').
    this.name = (new.target as unknown as { kind: string }).kind;
    this.code = code;
    if (options?.data !== undefined) this.data = options.data;
  }
}
Object.defineProperty(WarrenError.prototype, BRAND, { value: true });
brand(WarrenError);
// `this` is the class on the right of `instanceof` (a subclass inherits this function), so each
// class checks its own brand; a user's subclass without a `kind` of its own keeps plain instanceof.
Object.defineProperty(WarrenError, Symbol.hasInstance, {
  value: function hasInstance(this: { readonly kind: string }, value: unknown): boolean {
    if (!Object.hasOwn(this, 'kind')) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brandOf(this.kind)] === true;
  },
});

export function isWarrenError(value: unknown): value is WarrenError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** The byte stream is not Warren frames (or not valid JSON-RPC framing). */
export class ProtocolError extends WarrenError {
  static override readonly kind: string = 'ProtocolError';
  static {
    brand(ProtocolError);
  }
  constructor(message: string, options?: { data?: unknown }) {
    super('WARREN_PROTOCOL', message, options);
  }
}

export class FrameTooLargeError extends WarrenError {
  static override readonly kind: string = 'FrameTooLargeError';
  static {
    brand(FrameTooLargeError);
  }
  readonly size: number;
  readonly limit: number;
  constructor(size: number, limit: number) {
    super('WARREN_FRAME_TOO_LARGE', `frame payload of ${size} bytes is over the limit of ${limit} bytes`, {
      data: { size, limit },
    });
    this.size = size;
    this.limit = limit;
  }
}

export class CodecError extends WarrenError {
  static override readonly kind: string = 'CodecError';
  static {
    brand(CodecError);
  }
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_CODEC', message, options);
  }
}

export class TimeoutError extends WarrenError {
  static override readonly kind: string = 'TimeoutError';
  static {
    brand(TimeoutError);
  }
  /** `message` for a timeout other than the answer's (e.g. no worker to send it to in time). */
  constructor(method: string, timeoutMs: number, message = `request '${method}' got no response within ${timeoutMs} ms`) {
    super('WARREN_TIMEOUT', message, { data: { method, timeoutMs } });
  }
}

export class CancelledError extends WarrenError {
  static override readonly kind: string = 'CancelledError';
  static {
    brand(CancelledError);
  }
  constructor(message = 'request cancelled', options?: { cause?: unknown }) {
    super('WARREN_CANCELLED', message, options);
  }
}

export class PeerClosedError extends WarrenError {
  static override readonly kind: string = 'PeerClosedError';
  static {
    brand(PeerClosedError);
  }
  constructor(message = 'peer closed', options?: { cause?: unknown }) {
    super('WARREN_PEER_CLOSED', message, options);
  }
}

/**
 * A call that no instance could take and that was never written: every connect failed, or the
 * instance went away first. Safe to send again whatever its method (a gateway answers 503).
 */
export class UnavailableError extends WarrenError {
  static override readonly kind: string = 'UnavailableError';
  static {
    brand(UnavailableError);
  }
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_UNAVAILABLE', message, options);
  }
}

/**
 * An error raised by a handler on the other side. `code` is the remote error's own code when it
 * had one, else WARREN_REMOTE_ERROR. `remoteStack` is only filled when the other side runs with
 * debug on. `rpcCode` keeps the numeric JSON-RPC code when the error came over JSON-RPC.
 */
export class RemoteError extends WarrenError {
  static override readonly kind: string = 'RemoteError';
  static {
    brand(RemoteError);
  }
  readonly remoteStack?: string;
  readonly rpcCode?: number;
  constructor(code: string, message: string, options?: { data?: unknown; remoteStack?: string; rpcCode?: number }) {
    super(code, message, { data: options?.data });
    if (options?.remoteStack !== undefined) this.remoteStack = options.remoteStack;
    if (options?.rpcCode !== undefined) this.rpcCode = options.rpcCode;
  }
}

/**
 * The socket directory or the token file in it is missing, is not a directory (or regular file),
 * has another owner or gives access it should not. `path` names the directory or file.
 */
export class SocketDirError extends WarrenError {
  static override readonly kind: string = 'SocketDirError';
  static {
    brand(SocketDirError);
  }
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown; data?: unknown }) {
    super('WARREN_SOCKET_DIR', message, { cause: options?.cause, data: { path, ...(options?.data as object | undefined) } });
    this.path = path;
  }
}

/** No token, or a wrong one, was presented to a service or to the supervisor's control socket. */
export class UnauthorizedError extends WarrenError {
  static override readonly kind: string = 'UnauthorizedError';
  static {
    brand(UnauthorizedError);
  }
  constructor(message = 'no token or a wrong token was presented', options?: { data?: unknown; cause?: unknown }) {
    super('WARREN_UNAUTHORIZED', message, options);
  }
}

/**
 * An error a service handler (or hook) throws to answer with a status of its choice; the
 * caller gets a response with that status and `{ error: { code, message, data } }`. The
 * status defaults to the one the errors table gives the code, else 500.
 */
export class ServiceError extends WarrenError {
  static override readonly kind: string = 'ServiceError';
  static {
    brand(ServiceError);
  }
  readonly status: number;
  constructor(status: number | undefined, code: string, message: string, data?: unknown) {
    super(code, message, data === undefined ? undefined : { data });
    this.status = status ?? httpStatusOf(code) ?? 500;
  }
}

/** One problem found in a configuration. */
export interface ConfigIssue {
  /** The key path, e.g. `services[1].restart.maxDelayMs`; '' for the file as a whole. */
  readonly path: string;
  /** What is wrong: the value received and what was expected. */
  readonly message: string;
}

/**
 * The configuration cannot be used: the file is missing or unreadable, or some values are not
 * valid. `issues` lists every problem found (one line each in `message`); `file` names the
 * config file when there is one.
 */
export class ConfigError extends WarrenError {
  static override readonly kind: string = 'ConfigError';
  static {
    brand(ConfigError);
  }
  readonly issues: readonly ConfigIssue[];
  readonly file?: string;
  constructor(message: string, options?: { issues?: readonly ConfigIssue[]; file?: string; cause?: unknown }) {
    const issues = Object.freeze((options?.issues ?? [{ path: '', message }]).map((issue) => Object.freeze({ ...issue })));
    const data = options?.file === undefined ? { issues } : { file: options.file, issues };
    super('WARREN_CONFIG', message, { cause: options?.cause, data });
    this.issues = issues;
    if (options?.file !== undefined) this.file = options.file;
  }
}

// Factories for the codes that have no class of their own: one place names each code, so a
// call site cannot misspell it and a reader finds every raiser of a code by the factory's name.
type ErrorOptions = { cause?: unknown; data?: unknown };
const factory =
  (code: WarrenErrorCode) =>
  (message: string, options?: ErrorOptions): WarrenError =>
    new WarrenError(code, message, options);

/** An option or argument is not valid; the message names it. */
export const invalidArgument = factory('WARREN_INVALID_ARGUMENT');
/** A child process could not be started (or did not become ready). */
export const spawnFailed = factory('WARREN_SPAWN');
/** The operation does not exist on this framing, transport or process. */
export const unsupported = factory('WARREN_UNSUPPORTED');
/** A route key does not parse or clashes with another. */
export const invalidRoute = factory('WARREN_INVALID_ROUTE');
/** No instance of a service could be found. */
export const unknownService = factory('WARREN_UNKNOWN_SERVICE');
/** The connection to NATS is down: a call over NATS fails at once instead of waiting. */
export const natsUnavailable = factory('WARREN_NATS_UNAVAILABLE');
/** Another supervisor answers on the socket directory. */
export const alreadyRunning = factory('WARREN_ALREADY_RUNNING');
/** A service's shared `port` cannot be bound (in use, privileged, host unknown). */
export const portUnavailable = factory('WARREN_PORT_UNAVAILABLE');
/** The outbound queue is over its limit. */
export const queueFull = factory('WARREN_QUEUE_FULL');
/** A request's params, query or body do not match its schema (raised on the caller's side by a contract). */
export const validationFailed = factory('WARREN_VALIDATION');
/** No handler answered a method (sent to the caller, who gets it as a RemoteError). */
export const noHandler = factory('WARREN_NO_HANDLER');
/** Too many handlers running and queued (sent to the caller, who gets it as a RemoteError). */
export const overloaded = factory('WARREN_OVERLOADED');
/** A handler threw an error without a code of its own (sent to the caller as a RemoteError). */
export const remoteError = factory('WARREN_REMOTE_ERROR');
/** A WebSocket message that does not follow docs/realtime.md. */
export const badWsMessage = factory('WARREN_WS_BAD_MESSAGE');
/** An event to a channel the WebSocket client has not subscribed to. */
export const notSubscribed = factory('WARREN_WS_NOT_SUBSCRIBED');
/** A broadcast dropped because the broadcaster's buffer was full. */
export const broadcastDropped = factory('WARREN_BROADCAST_DROPPED');
/** No hub listens on hub.sock. */
export const hubUnreachable = factory('WARREN_HUB_UNREACHABLE');
/** A wrong or missing token. */
export const unauthorized = (message?: string, options?: { data?: unknown }): UnauthorizedError => new UnauthorizedError(message, options);
/** Refuses a caller the service knows but does not allow (403). */
export const forbidden = (message = 'forbidden', data?: unknown): ServiceError => new ServiceError(403, 'WARREN_FORBIDDEN', message, data);
