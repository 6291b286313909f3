/**
 * `warren call <service> <METHOD> <path>`: one call to a service through the pooled client,
 * printed for a person (status line, headers, pretty JSON body) or as one JSON line (--json).
 *
 * `--timeout` bounds the whole call: finding the instance, connecting, and the one retry the
 * client makes on another instance (it is given an AbortSignal for the deadline, on top of the
 * per-attempt timeout). A call whose instance died while running it is not sent again: the call
 * may be what killed it, and a retry would take a second instance down with it.
 *
 * Exit codes: 0 for a 2xx or 3xx status, 1 for a 4xx or 5xx status, 2 for a usage error or when
 * no response came back (unknown service, socket directory problem, timeout, connection failure).
 */
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import { isWarrenError, TimeoutError } from '../errors.js';
import { ServiceClient } from '../service/client.js';
import type { ServiceResponse } from '../service/define.js';
import { checkSocketDir, parseSocketName } from '../service/socket-dir.js';
import { commandSocketDir } from './socket-dir-lookup.js';

/** The methods a route may have (router.ts's ROUTE_METHODS, not imported: the router is not needed to call). */
const METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'] as const;

/** The default of --timeout, in ms. */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;

export interface CallCommandOptions {
  /** The request body as JSON text; `@file` reads it from a file, `-` from stdin. */
  data?: string;
  /** Request headers as `name:value`. */
  headers?: string[];
  /** Deadline of the whole call in ms, retries included (default 30000). */
  timeout?: number;
  /** Print one JSON line instead of the readable form. */
  json?: boolean;
  /** Socket directory; else WARREN_SOCKET_DIR, else the project's (socket-dir-lookup.ts), else the default. */
  socketDir?: string;
}

export interface CallCommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Reads `--data -` (default: stdin, file descriptor 0). */
  stdin?: () => string;
}

class UsageError extends Error {}

/** Runs the command; resolves with the exit code. Never leaves a connection or watcher open. */
export async function callCommand(
  service: string,
  method: string,
  path: string,
  options: CallCommandOptions,
  io: CallCommandIo,
): Promise<number> {
  let request: Request;
  try {
    request = parseArguments(method, path, options, io);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`warren call: WARREN_INVALID_ARGUMENT: ${error.message}\n`);
    return 2;
  }

  let client: ServiceClient | undefined;
  let response: ServiceResponse;
  const { timeout } = request;
  // The deadline of the whole call: the client's timeout is per attempt.
  const deadline = AbortSignal.timeout(timeout);
  try {
    const env = io.env ?? process.env;
    client = new ServiceClient({
      socketDir: commandSocketDir(options.socketDir, env),
      name: 'warren-cli',
      timeoutMs: timeout,
      connectTimeoutMs: Math.min(timeout, 2_000),
    });
    // A missing or unsafe directory is reported as such, not as a service without instances.
    await checkSocketDir(client.options.socketDir);
    const call = client.service(service).request(request.method, path, {
      ...(request.body === undefined ? {} : { body: request.body }),
      ...(request.headers === undefined ? {} : { headers: request.headers }),
      timeoutMs: timeout,
      signal: deadline,
      // Sent again only when it never ran (no connection, a draining instance); see the top.
      idempotent: false,
    });
    // The signal ends a request in flight; the race also ends a wait for a connection or for
    // discovery that the deadline falls in (closing the client below ends those).
    // Whichever loses is still settled later: its rejection is not an error of the command.
    call.catch(() => {});
    response = await Promise.race([call, expiry(deadline)]);
  } catch (error) {
    let code = isWarrenError(error) ? error.code : ((error as NodeJS.ErrnoException)?.code ?? 'ERROR');
    let message = error instanceof Error ? error.message : String(error);
    if (deadline.aborted && (code === 'WARREN_CANCELLED' || code === 'WARREN_TIMEOUT')) {
      code = 'WARREN_TIMEOUT';
      message = `no answer from service '${service}' within ${timeout} ms (--timeout, retries included)`;
    } else if (code === 'WARREN_PEER_CLOSED') {
      message = `${message}; the instance went away while running the call (it may have crashed on it: see \`warren logs ${service}\`); not sent again`;
    } else if (code === 'WARREN_UNKNOWN_SERVICE' && client !== undefined) {
      message = `${message}; ${await knownServices(client.options.socketDir)}`;
    }
    io.err(`warren call: ${code}: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    return 2;
  } finally {
    client?.close();
  }

  io.out(options.json ? `${JSON.stringify(toJson(response))}\n` : formatResponse(response));
  return response.status >= 200 && response.status < 400 ? 0 : 1;
}

/** Rejects when `signal` aborts (never resolves). */
function expiry(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    const fail = () => reject(new TimeoutError('warren call', 0));
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
}

/** The services that have a socket in `dir`, for an UNKNOWN_SERVICE message. */
async function knownServices(dir: string): Promise<string> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 'the socket directory cannot be listed';
  }
  const services = [...new Set(names.map((name) => parseSocketName(name)?.service).filter((s) => s !== undefined))].sort();
  return services.length === 0 ? 'no service has an instance there' : `services with instances there: ${services.join(', ')}`;
}

interface Request {
  method: string;
  body: unknown;
  headers: Record<string, string> | undefined;
  timeout: number;
}

/** A header name as HTTP has it (RFC 9110 token characters). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function parseArguments(method: string, path: string, options: CallCommandOptions, io: CallCommandIo): Request {
  const upper = method.toUpperCase();
  if (!(METHODS as readonly string[]).includes(upper)) {
    throw new UsageError(`unknown method '${method}': expected one of ${METHODS.join(', ')} (any case)`);
  }
  if (!path.startsWith('/')) throw new UsageError(`path '${path}' must start with '/', e.g. /users/42`);
  let body: unknown;
  if (options.data !== undefined) {
    const { text, from } = readData(options.data, io);
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw new UsageError(`${from} is not valid JSON: ${(error as Error).message}`);
    }
  }
  let headers: Record<string, string> | undefined;
  for (const header of options.headers ?? []) {
    const colon = header.indexOf(':');
    const name = colon < 0 ? '' : header.slice(0, colon).trim();
    if (!HEADER_NAME.test(name)) {
      throw new UsageError(`-H '${header}' is not a header: write it as name:value, e.g. -H x-request-id:abc`);
    }
    headers ??= {};
    // Lower case: an instance does not lower-case names, and handlers read them so (docs/protocol.md §13).
    headers[name.toLowerCase()] = header.slice(colon + 1).trim();
  }
  return { method: upper, body, headers, timeout: options.timeout ?? DEFAULT_CALL_TIMEOUT_MS };
}

/** The text of --data: as given, from a file (`@path`) or from stdin (`-`); `from` names it for errors. */
function readData(data: string, io: CallCommandIo): { text: string; from: string } {
  if (data === '-') {
    try {
      return { text: (io.stdin ?? (() => readFileSync(0, 'utf8')))(), from: '--data - (stdin)' };
    } catch (error) {
      throw new UsageError(`--data -: stdin cannot be read: ${(error as Error).message}`);
    }
  }
  if (data.startsWith('@')) {
    const file = data.slice(1);
    try {
      return { text: readFileSync(file, 'utf8'), from: `--data @${file}` };
    } catch (error) {
      throw new UsageError(
        `--data @${file}: the file cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
  }
  return { text: data, from: '--data' };
}

function toJson(response: ServiceResponse): { status: number; headers: Record<string, string>; body: unknown } {
  return { status: response.status, headers: response.headers ?? {}, body: response.body ?? null };
}

/** `200 OK`, then `name: value` headers, then a blank line and the body as indented JSON. */
export function formatResponse(response: ServiceResponse): string {
  const reason = STATUS_CODES[response.status];
  const lines = [reason ? `${response.status} ${reason}` : String(response.status)];
  for (const [name, value] of Object.entries(response.headers ?? {})) lines.push(`${name}: ${value}`);
  if (response.body !== undefined && response.body !== null) lines.push('', JSON.stringify(response.body, null, 2));
  return `${lines.join('\n')}\n`;
}
