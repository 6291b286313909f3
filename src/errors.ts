/**
 * The one registry of Warren error codes. docs/errors.md lists exactly these codes;
 * test/errors.test.ts fails when the two disagree.
 */

export const ERROR_CODES = {
  WARREN_PROTOCOL: 'The byte stream does not follow the Warren wire protocol (bad magic, version, header check or frame type).',
  WARREN_FRAME_TOO_LARGE: 'A frame announced a payload larger than the configured limit; nothing of it was buffered.',
  WARREN_CODEC: 'A payload could not be encoded or decoded with its codec.',
  WARREN_TIMEOUT: 'A request got no response within its timeout.',
  WARREN_CANCELLED: 'The request was cancelled by its caller.',
  WARREN_NO_HANDLER: 'No handler answered the method.',
  WARREN_PEER_CLOSED: 'The other side closed, exited or crashed, or this peer was closed, before a response arrived.',
  WARREN_QUEUE_FULL: 'The outbound queue is over its byte limit because the other side does not read fast enough.',
  WARREN_OVERLOADED: 'The peer is running and queueing as many requests as it is allowed; the request was refused.',
  WARREN_REMOTE_ERROR: 'A handler on the other side threw an error without a code of its own.',
  WARREN_INVALID_ARGUMENT: 'An option or argument is not valid; the message names it.',
  WARREN_SPAWN: 'A child process could not be started.',
  WARREN_UNSUPPORTED: 'The operation is not available on this framing or transport.',
  WARREN_SOCKET_DIR: 'The socket directory or its token file is missing or has the wrong type, owner, mode or content.',
  WARREN_UNAUTHORIZED: 'No token or a wrong token was presented.',
  WARREN_NOT_FOUND: 'No route of the service matches the request path (404).',
  WARREN_METHOD_NOT_ALLOWED: 'The request path matches routes of other methods only (405, with Allow).',
  WARREN_BAD_URL: 'The request url is malformed (400) or over the length limit (414).',
  WARREN_INVALID_ROUTE: 'A route key does not parse or clashes with another route; raised when the routes are defined.',
  WARREN_VALIDATION: 'The params, query or body of a request do not match the route schema (400, with the failing fields).',
  WARREN_FORBIDDEN: 'The caller is known but not allowed to do this (403).',
  WARREN_HANDLER_TIMEOUT: 'A service handler did not answer within its timeout (408).',
  WARREN_DRAINING: 'The service instance is shutting down and takes no new calls (503); another instance can.',
  WARREN_UNKNOWN_SERVICE: 'No instance of the named service has a socket in the socket directory.',
  WARREN_INTERNAL: 'A service handler failed unexpectedly (500); the caller gets the request id, the log gets the error.',
  WARREN_ALREADY_RUNNING: 'Another supervisor already runs on this socket directory; a second one refuses to start.',
  WARREN_CONFIG:
    'The configuration (file, .env or WARREN_* environment variables) is missing, unreadable or not valid; the message lists every problem.',
} as const;

export type WarrenErrorCode = keyof typeof ERROR_CODES;

// A Symbol.for brand lets isWarrenError() recognise errors thrown by a second copy of Warren
// (two installed versions), where instanceof would fail.
const BRAND = Symbol.for('warren.error');

export class WarrenError extends Error {
  readonly code: string;
  readonly data?: unknown;

  constructor(code: WarrenErrorCode | (string & {}), message: string, options?: { cause?: unknown; data?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WarrenError';
    this.code = code;
    if (options?.data !== undefined) this.data = options.data;
  }

  get [BRAND](): true {
    return true;
  }
}

export function isWarrenError(value: unknown): value is WarrenError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** The byte stream is not Warren frames (or not valid JSON-RPC framing). */
export class ProtocolError extends WarrenError {
  constructor(message: string, options?: { data?: unknown }) {
    super('WARREN_PROTOCOL', message, options);
    this.name = 'ProtocolError';
  }
}

export class FrameTooLargeError extends WarrenError {
  readonly size: number;
  readonly limit: number;
  constructor(size: number, limit: number) {
    super('WARREN_FRAME_TOO_LARGE', `frame payload of ${size} bytes is over the limit of ${limit} bytes`, {
      data: { size, limit },
    });
    this.name = 'FrameTooLargeError';
    this.size = size;
    this.limit = limit;
  }
}

export class CodecError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_CODEC', message, options);
    this.name = 'CodecError';
  }
}

export class TimeoutError extends WarrenError {
  constructor(method: string, timeoutMs: number) {
    super('WARREN_TIMEOUT', `request '${method}' got no response within ${timeoutMs} ms`, { data: { method, timeoutMs } });
    this.name = 'TimeoutError';
  }
}

export class CancelledError extends WarrenError {
  constructor(message = 'request cancelled', options?: { cause?: unknown }) {
    super('WARREN_CANCELLED', message, options);
    this.name = 'CancelledError';
  }
}

export class PeerClosedError extends WarrenError {
  constructor(message = 'peer closed', options?: { cause?: unknown }) {
    super('WARREN_PEER_CLOSED', message, options);
    this.name = 'PeerClosedError';
  }
}

/**
 * An error raised by a handler on the other side. `code` is the remote error's own code when it
 * had one, else WARREN_REMOTE_ERROR. `remoteStack` is only filled when the other side runs with
 * debug on. `rpcCode` keeps the numeric JSON-RPC code when the error came over JSON-RPC.
 */
export class RemoteError extends WarrenError {
  readonly remoteStack?: string;
  readonly rpcCode?: number;
  constructor(code: string, message: string, options?: { data?: unknown; remoteStack?: string; rpcCode?: number }) {
    super(code, message, { data: options?.data });
    this.name = 'RemoteError';
    if (options?.remoteStack !== undefined) this.remoteStack = options.remoteStack;
    if (options?.rpcCode !== undefined) this.rpcCode = options.rpcCode;
  }
}

export function invalidArgument(message: string): WarrenError {
  return new WarrenError('WARREN_INVALID_ARGUMENT', message);
}

/**
 * The socket directory or the token file in it is missing, is not a directory (or regular file),
 * has another owner or gives access it should not. `path` names the directory or file.
 */
export class SocketDirError extends WarrenError {
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown; data?: unknown }) {
    super('WARREN_SOCKET_DIR', message, { cause: options?.cause, data: { path, ...(options?.data as object | undefined) } });
    this.name = 'SocketDirError';
    this.path = path;
  }
}

/** No token, or a wrong one, was presented to a service. */
export class UnauthorizedError extends WarrenError {
  constructor(message = 'no token or a wrong token was presented', options?: { data?: unknown }) {
    super('WARREN_UNAUTHORIZED', message, options);
    this.name = 'UnauthorizedError';
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
  readonly issues: readonly ConfigIssue[];
  readonly file?: string;
  constructor(message: string, options?: { issues?: readonly ConfigIssue[]; file?: string; cause?: unknown }) {
    const issues = Object.freeze((options?.issues ?? [{ path: '', message }]).map((issue) => Object.freeze({ ...issue })));
    const data = options?.file === undefined ? { issues } : { file: options.file, issues };
    super('WARREN_CONFIG', message, { cause: options?.cause, data });
    this.name = 'ConfigError';
    this.issues = issues;
    if (options?.file !== undefined) this.file = options.file;
  }
}
