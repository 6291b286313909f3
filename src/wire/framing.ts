/**
 * The seam between a Peer and the bytes on its stream. A framing turns bytes into calls on a
 * MessageSink (decoding) and turns the peer's messages into bytes handed to a ByteSink
 * (encoding). Two framings exist: Warren's binary frames (binary.ts) and JSON-RPC 2.0 with
 * Content-Length headers (jsonrpc.ts). The Peer never sees which one it talks through.
 *
 * Calls use positional arguments instead of message objects so that the hot path allocates
 * nothing but the decoded payload.
 */
import type { WarrenError } from '../errors.js';

/** Request ids are numbers on Warren frames; JSON-RPC peers may also use strings. */
export type RequestId = number | string;

/** An error as it crosses the wire. */
export interface WireError {
  code: string;
  message: string;
  data?: unknown;
  stack?: string;
  /** The numeric JSON-RPC code, when the error came from or goes to JSON-RPC. */
  rpcCode?: number;
}

/** What a framing calls as it decodes. Implemented by the Peer. */
export interface MessageSink {
  receiveRequest(id: RequestId, method: string, params: unknown, codec: number): void;
  receiveNotify(method: string, params: unknown): void;
  /** `stream` is true when the result is the start of a stream of items. */
  onResponse(id: RequestId, result: unknown, stream: boolean): void;
  onError(id: RequestId, error: WireError): void;
  onCancel(id: RequestId): void;
  onProgress(id: RequestId, value: unknown): void;
  onStreamItem(id: RequestId, value: unknown): void;
  onStreamEnd(id: RequestId): void;
  onCredit(id: RequestId, credit: number): void;
  /**
   * A CREDIT frame this side cannot read (its payload is not 4 bytes). CREDIT flows from the
   * consumer to the producer, so `id` names a request this side is answering, never one it
   * sent: the peer fails that request (its stream) with `error`.
   */
  onBadCredit(id: RequestId, error: WarrenError): void;
  /**
   * A request whose envelope was read (so its id is known) but whose params could not be
   * decoded: the peer answers it with this error instead of dropping it, in the request's
   * `codec` (the framing's writeError picks a readable one when that codec cannot carry it).
   */
  onBadRequest(id: RequestId, error: WarrenError, codec?: number): void;
  /** Bytes skipped before a valid header (lenient framings only, e.g. a child's stdout). */
  onJunk(bytes: Buffer): void;
  /** The stream can no longer be trusted; the peer closes the connection with this error. */
  onFatal(error: WarrenError): void;
}

/** Where a framing puts encoded bytes. Implemented by the Peer's outbox. */
export interface ByteSink {
  /**
   * Appends bytes[start, end) (all of them by default); they are flushed to the stream once
   * per tick. The sink may keep a reference: the caller must never change them afterwards.
   */
  push(bytes: Uint8Array, start?: number, end?: number): void;
}

export interface Framing {
  readonly name: string;
  /** Feeds bytes read from the stream. Never throws: errors go to the sink's onFatal. */
  feed(chunk: Buffer): void;
  /** The stream ended; a partial frame left over is reported through onFatal. */
  end(): void;

  writeRequest(id: RequestId, method: string, params: unknown, codec?: number): void;
  writeNotify(method: string, params: unknown, codec?: number): void;
  writeResponse(id: RequestId, result: unknown, stream: boolean, codec?: number): void;
  writeError(id: RequestId, error: WireError, codec?: number): void;
  writeCancel(id: RequestId): void;
  writeProgress(id: RequestId, value: unknown, codec?: number): void;
  writeStreamItem(id: RequestId, value: unknown, codec?: number): void;
  writeStreamEnd(id: RequestId): void;
  writeCredit(id: RequestId, credit: number): void;
  /** Changes the largest payload accepted from the next incoming frame on (see Peer.setReceiveLimit). */
  setReceiveLimit(bytes: number): void;
  /** Whether this framing carries streams (Warren frames do, JSON-RPC does not). */
  readonly supportsStreams: boolean;
  /**
   * Whether a request the caller cancelled still gets an answer (an error). JSON-RPC (LSP)
   * expects one; Warren frames send nothing for a cancelled request.
   */
  readonly answersCancelled: boolean;
  /**
   * How progress for an outgoing request is addressed, when the caller listens for it: the
   * params to send (JSON-RPC adds a `workDoneToken` when there is none) and the token progress
   * will carry when the caller chose its own. Absent: progress carries the request id.
   */
  outgoingProgress?(id: number, params: unknown): { params: unknown; token: RequestId | undefined };
  /** The token this side's progress for an incoming request carries. Absent: the request id. */
  incomingProgressToken?(id: RequestId, params: unknown): RequestId;
}

export interface FramingOptions {
  sink: MessageSink;
  out: ByteSink;
  /** Largest payload accepted, in bytes (default 16 MiB). Checked from the header. */
  maxFrameSize?: number;
  /** Skip and report bytes before a valid header instead of failing (stdio). */
  lenient?: boolean;
  /** Default codec id for messages this side writes. */
  codec?: number;
}

export type FramingFactory = (options: FramingOptions) => Framing;

export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;
