/**
 * How a service call and its answer travel as the params and result of `warren.call`.
 *
 * Every call pays for its encoding twice (once each way), so both travel as short arrays,
 * not maps: no key strings to write, read and intern.
 *
 *   call:   [method, url, body?, headers?, requestId?]
 *   answer: [status, body, headers?]
 *
 * Trailing entries that are absent are left out; an absent body followed by headers is sent
 * as nil, and nil in the body slot means "no body". A server also accepts a call written as a
 * map `{ method, url, body?, headers?, requestId? }`, for clients in other languages that
 * find it simpler. docs/protocol.md describes both.
 */
import { ProtocolError } from '../errors.js';
import type { ServiceRequest, ServiceResponse } from './define.js';

/** Encodes a call; `headers` with no keys are left out. */
export function encodeCall(method: string, url: string, body?: unknown, headers?: Record<string, string>, requestId?: string): unknown[] {
  if (requestId !== undefined) return [method, url, body ?? null, headers ?? null, requestId];
  if (headers !== undefined && hasKeys(headers)) return [method, url, body ?? null, headers];
  if (body !== undefined) return [method, url, body];
  return [method, url];
}

/** Reads a call in either form; undefined when it is neither (the server answers 400). */
export function decodeCall(params: unknown): ServiceRequest | undefined {
  if (Array.isArray(params)) {
    const [method, url, body, headers, requestId] = params as unknown[];
    if (typeof method !== 'string' || typeof url !== 'string') return undefined;
    const request: ServiceRequest = { method, url };
    if (body !== undefined && body !== null) request.body = body;
    if (headers !== undefined && headers !== null) {
      if (!isStringRecord(headers)) return undefined;
      request.headers = headers;
    }
    if (requestId !== undefined && requestId !== null) {
      if (typeof requestId !== 'string') return undefined;
      request.requestId = requestId;
    }
    return request;
  }
  if (typeof params !== 'object' || params === null) return undefined;
  const request = params as ServiceRequest;
  if (typeof request.method !== 'string' || typeof request.url !== 'string') return undefined;
  if (request.headers !== undefined && !isStringRecord(request.headers)) return undefined;
  if (request.requestId !== undefined && typeof request.requestId !== 'string') return undefined;
  return request;
}

/** Encodes an answer; headers with no keys are left out. */
export function encodeReply(response: ServiceResponse): unknown[] {
  return hasKeys(response.headers) ? [response.status, response.body, response.headers] : [response.status, response.body];
}

/**
 * Reads an answer; a malformed one is a protocol error (the service is not speaking Warren).
 * `start` is where it begins in the array: 1 for a batch's `[index, status, body, headers?]`.
 */
export function decodeReply(result: unknown, start = 0): ServiceResponse {
  if (Array.isArray(result)) {
    const status = result[start];
    const headers = result[start + 2];
    if (Number.isInteger(status) && (headers === undefined || isStringRecord(headers))) {
      return { status: status as number, headers: (headers as Record<string, string> | undefined) ?? {}, body: result[start + 1] ?? null };
    }
  }
  throw new ProtocolError(`a service answered warren.call with something that is not [status, body, headers?]`);
}

function hasKeys(record: object | undefined): boolean {
  if (record === undefined) return false;
  for (const _ in record) return true;
  return false;
}

function isStringRecord(value: unknown): value is Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (const key in value) if (typeof (value as Record<string, unknown>)[key] !== 'string') return false;
  return true;
}
