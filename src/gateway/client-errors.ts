/** Answers to what node's HTTP parser refused, written on the raw socket before any request exists. */
import type { Socket } from 'node:net';
import { errorBody, JSON_TYPE } from './http-message.js';

/** The one-line answer to a request node's parser refused. */
function rawError(status: number, reason: string, code: string, message: string): string {
  const body = errorBody(code, message);
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/** 431 for oversized headers, 408 for a request not received in time, 400 for anything malformed; never leaves the client hanging. */
export function onClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const text =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? rawError(
          431,
          'Request Header Fields Too Large',
          'WARREN_HEADERS_TOO_LARGE',
          'the request headers are over the limit (gateway.maxHeaderBytes)',
        )
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? rawError(408, 'Request Timeout', 'WARREN_TIMEOUT', 'the request was not received in time')
        : rawError(400, 'Bad Request', 'WARREN_BAD_REQUEST', `malformed request (${error.code ?? 'parse error'})`);
  socket.end(text);
}
