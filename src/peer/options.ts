/** Peer options: the public PeerOptions and the one function that resolves them, with defaults and checks. */
import { invalidArgument } from '../errors.js';
import { wholeNumber } from '../util/options.js';
import { createBinaryFraming } from '../wire/binary.js';
import { type Codec, type CodecName, resolveCodec } from '../wire/codecs.js';
import type { FramingFactory } from '../wire/framing.js';
import { createJsonRpcFraming } from '../wire/jsonrpc.js';

export interface PeerOptions {
  /** 'warren' binary frames (default) or 'jsonrpc' (Content-Length framed JSON-RPC 2.0). */
  framing?: 'warren' | 'jsonrpc' | FramingFactory;
  /** Codec for what this side writes: 'msgpack' (default), 'json', 'v8', 'raw' or a Codec. */
  codec?: CodecName | Codec;
  /** Default request timeout in ms (30 s); 0 waits forever. */
  timeout?: number;
  /** Largest frame payload accepted or sent, in bytes (16 MiB). */
  maxFrameSize?: number;
  /** Requests and notifications are refused with WARREN_QUEUE_FULL while more than this many bytes wait to be written (64 MiB). */
  maxOutboundBytes?: number;
  /** Handlers running at once (1024); more requests wait in a queue. */
  maxConcurrent?: number;
  /** Requests waiting for a handler slot (65536); more are refused with WARREN_OVERLOADED. */
  maxQueued?: number;
  /** Items a stream consumer accepts ahead of reading them (64). */
  streamWindow?: number;
  /** How long close() waits for pending requests and running handlers (5 s). */
  closeTimeout?: number;
  /** Skip and report junk bytes before valid frames (used on a child's stdout). */
  lenient?: boolean;
  /** Makes request ids; must return integers from 1 to 2^32-1 not in use. */
  idGenerator?: () => number;
  /** Send handler stacks with errors (never on by default). */
  debug?: boolean;
  /** A name for logs and errors. */
  name?: string;
  /**
   * When the frames written are sent (one write per batch): 'tick' (default) at the end of the
   * current tick; 'loop' once the event loop has run every I/O callback that is ready, so that
   * frames made by many callbacks of one turn (a front serving many HTTP connections) leave in
   * one write, for a few µs more per frame.
   */
  batchWrites?: 'tick' | 'loop';
}

export interface ResolvedPeerOptions {
  readonly framing: FramingFactory;
  readonly codec: Codec;
  readonly timeout: number;
  readonly maxFrameSize: number;
  readonly maxOutboundBytes: number;
  readonly maxConcurrent: number;
  readonly maxQueued: number;
  readonly streamWindow: number;
  readonly closeTimeout: number;
  readonly lenient: boolean;
  readonly idGenerator: (() => number) | undefined;
  readonly debug: boolean;
  readonly name: string;
  readonly batchWrites: 'tick' | 'loop';
}

export function resolvePeerOptions(options: PeerOptions = {}): ResolvedPeerOptions {
  const framing =
    options.framing === undefined || options.framing === 'warren'
      ? createBinaryFraming
      : options.framing === 'jsonrpc'
        ? createJsonRpcFraming
        : typeof options.framing === 'function'
          ? options.framing
          : undefined;
  if (!framing) throw invalidArgument(`option 'framing' must be 'warren', 'jsonrpc' or a factory, got ${String(options.framing)}`);
  return Object.freeze({
    framing,
    codec: resolveCodec(options.codec),
    timeout: wholeNumber('timeout', options.timeout, 30_000, 0),
    maxFrameSize: wholeNumber('maxFrameSize', options.maxFrameSize, 16 * 1024 * 1024),
    maxOutboundBytes: wholeNumber('maxOutboundBytes', options.maxOutboundBytes, 64 * 1024 * 1024),
    maxConcurrent: wholeNumber('maxConcurrent', options.maxConcurrent, 1024),
    maxQueued: wholeNumber('maxQueued', options.maxQueued, 65_536, 0),
    streamWindow: wholeNumber('streamWindow', options.streamWindow, 64),
    closeTimeout: wholeNumber('closeTimeout', options.closeTimeout, 5_000, 0),
    lenient: options.lenient ?? false,
    idGenerator: options.idGenerator,
    debug: options.debug ?? false,
    name: options.name ?? 'peer',
    batchWrites: batchWritesOf(options.batchWrites),
  });
}

function batchWritesOf(value: PeerOptions['batchWrites']): 'tick' | 'loop' {
  if (value === undefined || value === 'tick' || value === 'loop') return value ?? 'tick';
  throw invalidArgument(`option 'batchWrites' must be 'tick' or 'loop', got ${String(value)}`);
}
