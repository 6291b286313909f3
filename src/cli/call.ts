/**
 * `warren call <service> <METHOD> <path>`: one call to a service through the pooled client,
 * printed for a person (status line, headers, pretty JSON body) or as one JSON line (--json).
 *
 * Exit codes: 0 for a 2xx or 3xx status, 1 for a 4xx or 5xx status, 2 for a usage error or when
 * no response came back (unknown service, socket directory problem, timeout, connection failure).
 */
import { STATUS_CODES } from 'node:http';
import { isWarrenError } from '../errors.js';
import { ServiceClient } from '../service/client.js';
import type { ServiceResponse } from '../service/define.js';
import { ROUTE_METHODS } from '../service/router.js';
import { checkSocketDir } from '../service/socket-dir.js';

export interface CallCommandOptions {
  /** The request body as JSON text. */
  data?: string;
  /** Call timeout in ms. */
  timeout?: number;
  /** Print one JSON line instead of the readable form. */
  json?: boolean;
  /** Socket directory; else WARREN_SOCKET_DIR, else the default. */
  socketDir?: string;
}

export interface CallCommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env?: NodeJS.ProcessEnv;
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
  let request: { method: string; body: unknown; timeout: number | undefined };
  try {
    request = parseArguments(method, path, options);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`warren call: WARREN_INVALID_ARGUMENT: ${error.message}\n`);
    return 2;
  }

  let client: ServiceClient | undefined;
  let response: ServiceResponse;
  try {
    const env = io.env ?? process.env;
    client = new ServiceClient({
      socketDir: options.socketDir || env.WARREN_SOCKET_DIR || undefined,
      name: 'warren-cli',
      ...(request.timeout === undefined ? {} : { timeout: request.timeout, connectTimeout: Math.min(request.timeout, 2_000) }),
    });
    // A missing or unsafe directory is reported as such, not as a service without instances.
    await checkSocketDir(client.options.socketDir);
    response = await client.service(service).request(request.method, path, {
      ...(request.body === undefined ? {} : { body: request.body }),
      ...(request.timeout === undefined ? {} : { timeout: request.timeout }),
    });
  } catch (error) {
    const code = isWarrenError(error) ? error.code : ((error as NodeJS.ErrnoException)?.code ?? 'ERROR');
    const message = error instanceof Error ? error.message : String(error);
    io.err(`warren call: ${code}: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    return 2;
  } finally {
    client?.close();
  }

  io.out(options.json ? `${JSON.stringify(toJson(response))}\n` : formatResponse(response));
  return response.status >= 200 && response.status < 400 ? 0 : 1;
}

function parseArguments(method: string, path: string, options: CallCommandOptions) {
  const upper = method.toUpperCase();
  if (!(ROUTE_METHODS as readonly string[]).includes(upper)) {
    throw new UsageError(`unknown method '${method}': expected one of ${ROUTE_METHODS.join(', ')} (any case)`);
  }
  if (!path.startsWith('/')) throw new UsageError(`path '${path}' must start with '/', e.g. /users/42`);
  let body: unknown;
  if (options.data !== undefined) {
    try {
      body = JSON.parse(options.data);
    } catch (error) {
      throw new UsageError(`--data is not valid JSON: ${(error as Error).message}`);
    }
  }
  return { method: upper, body, timeout: options.timeout };
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
