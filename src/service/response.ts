/** Service responses that both sides make: the error body every layer answers with. */
import type { ServiceResponse } from './define.js';

/** A response whose body is `{ error: { code, message, data? } }` (docs/protocol.md §13). */
export function errorResponse(
  status: number,
  code: string,
  message: string,
  data?: unknown,
  headers: Record<string, string> = {},
): ServiceResponse {
  const error: Record<string, unknown> = { code, message };
  if (data !== undefined) error.data = data;
  return { status, headers, body: { error } };
}
