/**
 * Where a 500's real error goes by default: the caller only sees the request id, so the error
 * must be findable by it. One JSON line on stderr in pino's shape (level, time, msg), which
 * `warren up` reads as a log record with its fields (so it reaches `warren logs` at level
 * error) and which any other log collector can parse.
 */

/** The shape of `onInternalError`: the error, the request id the caller saw, the route key. */
export type InternalErrorHandler = (error: unknown, requestId: string, route: string) => void;

/** pino's number for `error`. */
const ERROR_LEVEL = 50;

/** What is logged of a thrown value: its class, message, code and stack when it has them. */
export function describeThrown(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error, message: String(error) };
  const described: Record<string, unknown> = { type: error.name, message: error.message };
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') described.code = code;
  if (typeof error.stack === 'string') described.stack = error.stack;
  return described;
}

/** The one log line of an internal error, without its newline. */
export function internalErrorLine(service: string, error: unknown, requestId: string, route: string, now = Date.now()): string {
  const err = describeThrown(error);
  return JSON.stringify({
    level: ERROR_LEVEL,
    time: now,
    // The stack in the message too: `warren logs` shows a record's message, not its fields.
    msg: `${route} failed (request ${requestId}): ${String(err.stack ?? err.message)}`,
    service,
    requestId,
    route,
    err,
  });
}

/** The default handler of a service: writes internalErrorLine() to stderr; never throws. */
export function logInternalErrorTo(service: string, stream: NodeJS.WritableStream = process.stderr): InternalErrorHandler {
  return (error, requestId, route) => {
    try {
      stream.write(`${internalErrorLine(service, error, requestId, route)}\n`);
    } catch {
      // A log that cannot be written must not turn a 500 into a crash.
    }
  };
}
