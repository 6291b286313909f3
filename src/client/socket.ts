/**
 * The part of the WebSocket API the client uses: the browser's class and `ws`'s both have it,
 * so the client never imports either (no DOM types, no Node modules).
 */
export interface WebSocketLike {
  binaryType: string;
  readonly protocol: string;
  readonly readyState: number;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  // `never` parameters: the browser's and ws's event classes both fit; the client reads only
  // `data` of a message event and `code`/`reason` of a close event (see client.ts).
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** WebSocket.OPEN, the same number in every implementation. */
export const OPEN = 1;
