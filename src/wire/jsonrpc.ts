/**
 * JSON-RPC 2.0 with LSP-style headers: `Content-Length: N\r\n`, optional other headers,
 * `\r\n`, then N bytes of UTF-8 JSON. This is what vscode-jsonrpc and most language-server
 * libraries speak, so a Warren peer on this framing talks to them directly.
 *
 * JSON-RPC has no streams and no credit: supportsStreams is false and the stream writers throw
 * WARREN_UNSUPPORTED. Cancellation and progress use the LSP conventions `$/cancelRequest {id}`
 * and `$/progress {token, value}`, with the request id as the progress token. Bodies are always
 * JSON, so requests reach the sink with CodecId.json and the `codec` arguments are ignored.
 */
import { CodecError, FrameTooLargeError, ProtocolError, unsupported, type WarrenError, type WarrenErrorCode } from '../errors.js';
import { isPlainObject } from '../util/guards.js';
import { CodecId } from './codecs.js';
import {
  type ByteSink,
  DEFAULT_MAX_FRAME_SIZE,
  type Framing,
  type FramingFactory,
  type FramingOptions,
  type MessageSink,
  type RequestId,
  type WireError,
} from './framing.js';

/** Largest header section accepted, blank line included; real headers are a few dozen bytes. */
export const MAX_HEADER_BYTES = 8 * 1024;

/**
 * How Warren error codes cross JSON-RPC, both ways. Codes not listed here go out as
 * JSONRPC_SERVER_ERROR (-32000) with `data: {warrenCode, data}`, which the receiving side
 * unwraps; numeric codes not listed here come in as WARREN_REMOTE_ERROR with `rpcCode` kept.
 *
 * WARREN_CODEC is -32700 (Parse error): both mean "the bytes could not be decoded". Invalid
 * params are a handler's business and map to WARREN_INVALID_ARGUMENT (-32602).
 */
export const JSONRPC_ERROR_CODES = {
  WARREN_CODEC: -32700,
  WARREN_PROTOCOL: -32600,
  WARREN_NO_HANDLER: -32601,
  WARREN_INVALID_ARGUMENT: -32602,
  WARREN_REMOTE_ERROR: -32603,
  WARREN_CANCELLED: -32800,
} as const satisfies Partial<Record<WarrenErrorCode, number>>;

/** The implementation-defined server error that carries any other Warren code. */
export const JSONRPC_SERVER_ERROR = -32000;

const RPC_BY_CODE = new Map<string, number>(Object.entries(JSONRPC_ERROR_CODES));
const CODE_BY_RPC = new Map<number, string>(Object.entries(JSONRPC_ERROR_CODES).map(([code, rpc]) => [rpc, code]));

export const CANCEL_METHOD = '$/cancelRequest';
export const PROGRESS_METHOD = '$/progress';

/** The JSON-RPC `error` member as it goes on the wire. */
export interface RpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

/** What `data` holds when the numeric code alone cannot say which Warren code was meant. */
interface WarrenErrorData {
  warrenCode: string;
  data?: unknown;
  stack?: string;
}

function codeForRpc(rpcCode: number): string {
  return CODE_BY_RPC.get(rpcCode) ?? 'WARREN_REMOTE_ERROR';
}

/** Maps a Warren wire error to a JSON-RPC error object. An explicit rpcCode wins. */
export function toRpcError(error: WireError): RpcErrorObject {
  const rpcCode =
    error.rpcCode !== undefined && Number.isInteger(error.rpcCode) ? error.rpcCode : (RPC_BY_CODE.get(error.code) ?? JSONRPC_SERVER_ERROR);
  // Only wrap when the receiver could not restore the code (or the stack) from the number,
  // so that plain JSON-RPC peers see plain `data`.
  if (codeForRpc(rpcCode) === error.code && error.stack === undefined) {
    return error.data === undefined
      ? { code: rpcCode, message: error.message }
      : { code: rpcCode, message: error.message, data: error.data };
  }
  const data: WarrenErrorData = { warrenCode: error.code };
  if (error.data !== undefined) data.data = error.data;
  if (error.stack !== undefined) data.stack = error.stack;
  return { code: rpcCode, message: error.message, data };
}

/** Maps a received JSON-RPC `error` member (of any shape) to a Warren wire error. */
export function fromRpcError(value: unknown): WireError {
  const obj = isRecord(value) ? value : {};
  const message = typeof obj.message === 'string' ? obj.message : 'remote error without a message';
  const rpcCode = typeof obj.code === 'number' && Number.isInteger(obj.code) ? obj.code : undefined;
  const result: WireError = { code: rpcCode === undefined ? 'WARREN_REMOTE_ERROR' : codeForRpc(rpcCode), message };
  if (rpcCode !== undefined) result.rpcCode = rpcCode;
  const data = obj.data;
  if (isRecord(data) && typeof data.warrenCode === 'string') {
    result.code = data.warrenCode;
    if (data.data !== undefined) result.data = data.data;
    if (typeof data.stack === 'string') result.stack = data.stack;
  } else if (data !== undefined) {
    result.data = data;
  }
  return result;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is RequestId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');

// Decoder states: reading a header section, reading a body of known length, or given up.
const HEADERS = 0;
const BODY = 1;
const FAILED = 2;
type State = typeof HEADERS | typeof BODY | typeof FAILED;

const EMPTY = Buffer.alloc(0);

export class JsonRpcFraming implements Framing {
  readonly name = 'jsonrpc';
  readonly supportsStreams = false;
  // LSP expects an answer even to a cancelled request.
  readonly answersCancelled = true;

  // LSP convention: progress for a request is addressed by a token in its params.
  outgoingProgress(id: number, params: unknown): { params: unknown; token: RequestId | undefined } {
    if (!isPlainObject(params)) return { params, token: undefined };
    const token = params.workDoneToken;
    if (token === undefined) return { params: { ...params, workDoneToken: id }, token: undefined };
    return { params, token: typeof token === 'string' || typeof token === 'number' ? token : undefined };
  }

  incomingProgressToken(id: RequestId, params: unknown): RequestId {
    if (!isPlainObject(params)) return id;
    const token = params.workDoneToken;
    return typeof token === 'string' || typeof token === 'number' ? token : id;
  }

  private readonly sink: MessageSink;
  private readonly out: ByteSink;
  private maxFrameSize: number;

  private state: State = HEADERS;
  // A header section split across chunks is copied here; it is bounded by MAX_HEADER_BYTES.
  private readonly headerBuf = Buffer.allocUnsafe(MAX_HEADER_BYTES);
  private headerLen = 0;
  private bodyLength = 0;
  // A body split across chunks is kept as slices and copied once when complete, so memory
  // grows with what arrived rather than with what the header announced.
  private bodyParts: Buffer[] = [];
  private bodyReceived = 0;

  constructor(options: FramingOptions) {
    this.sink = options.sink;
    this.out = options.out;
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  }

  setReceiveLimit(bytes: number): void {
    this.maxFrameSize = bytes;
  }

  feed(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && this.state !== FAILED) {
      pos = this.state === HEADERS ? this.readHeaders(chunk, pos) : this.readBody(chunk, pos);
    }
  }

  end(): void {
    if (this.state === FAILED) return;
    const inHeaders = this.state === HEADERS && this.headerLen > 0;
    if (inHeaders || this.state === BODY) {
      const received = inHeaders ? this.headerLen : this.bodyReceived;
      this.fail(
        new ProtocolError(`stream ended inside a JSON-RPC message (${inHeaders ? 'headers' : 'body'})`, {
          data: { received, expected: inHeaders ? undefined : this.bodyLength },
        }),
      );
    }
  }

  /** Consumes header bytes from chunk[pos..]; returns the position after what it consumed. */
  private readHeaders(chunk: Buffer, pos: number): number {
    const prev = this.headerLen;
    if (prev === 0) {
      // Common case: the whole header section is in this chunk; parse it in place.
      const window = chunk.subarray(pos, pos + MAX_HEADER_BYTES);
      const end = window.indexOf(HEADER_END);
      if (end !== -1) {
        this.startBody(window, end);
        return pos + end + HEADER_END.length;
      }
      if (window.length === MAX_HEADER_BYTES) return this.headerTooLarge();
    }
    const take = Math.min(chunk.length - pos, MAX_HEADER_BYTES - prev);
    chunk.copy(this.headerBuf, prev, pos, pos + take);
    this.headerLen = prev + take;
    // The terminator may straddle the old and new bytes: search from 3 bytes back.
    const end = this.headerBuf.subarray(0, this.headerLen).indexOf(HEADER_END, Math.max(0, prev - 3));
    if (end === -1) {
      return this.headerLen === MAX_HEADER_BYTES ? this.headerTooLarge() : pos + take;
    }
    this.headerLen = 0;
    this.startBody(this.headerBuf, end);
    return pos + end + HEADER_END.length - prev;
  }

  private headerTooLarge(): number {
    this.fail(new ProtocolError(`JSON-RPC header section is over ${MAX_HEADER_BYTES} bytes`, { data: { limit: MAX_HEADER_BYTES } }));
    return Number.POSITIVE_INFINITY;
  }

  /** Parses the header section buf[0..end) and enters the body state, or fails. */
  private startBody(buf: Buffer, end: number): void {
    let length: number | undefined;
    for (const line of buf.toString('latin1', 0, end).split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon === -1) {
        this.fail(new ProtocolError('JSON-RPC header line without a colon', { data: { line: line.slice(0, 100) } }));
        return;
      }
      if (line.slice(0, colon).trim().toLowerCase() !== 'content-length') continue;
      const value = line.slice(colon + 1).trim();
      const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
      // Two different lengths would let two parsers disagree on where the message ends.
      if (Number.isNaN(n) || (length !== undefined && length !== n)) {
        this.fail(new ProtocolError('invalid JSON-RPC Content-Length header', { data: { value: value.slice(0, 100) } }));
        return;
      }
      length = n;
    }
    if (length === undefined) {
      this.fail(new ProtocolError('JSON-RPC message without a Content-Length header'));
      return;
    }
    if (length > this.maxFrameSize) {
      this.fail(new FrameTooLargeError(length, this.maxFrameSize));
      return;
    }
    if (length === 0) {
      // Nothing more to wait for: a header that ends a chunk must not leave this pending.
      this.handleBody(EMPTY);
      return;
    }
    this.state = BODY;
    this.bodyLength = length;
    this.bodyReceived = 0;
  }

  private readBody(chunk: Buffer, pos: number): number {
    const need = this.bodyLength - this.bodyReceived;
    const available = chunk.length - pos;
    if (this.bodyReceived === 0 && available >= need) {
      this.state = HEADERS;
      this.handleBody(chunk.subarray(pos, pos + need));
      return pos + need;
    }
    const take = Math.min(need, available);
    this.bodyParts.push(chunk.subarray(pos, pos + take));
    this.bodyReceived += take;
    if (this.bodyReceived === this.bodyLength) {
      const body = Buffer.concat(this.bodyParts, this.bodyLength);
      this.bodyParts = [];
      this.bodyReceived = 0;
      // State is reset before dispatch so a throwing sink leaves the decoder consistent.
      this.state = HEADERS;
      this.handleBody(body);
    }
    return pos + take;
  }

  private fail(error: WarrenError): void {
    this.state = FAILED;
    this.bodyParts = [];
    this.sink.onFatal(error);
  }

  private handleBody(body: Buffer): void {
    let message: unknown;
    try {
      message = JSON.parse(body.toString('utf8'));
    } catch {
      // The length was known, so the framing is intact: answer as JSON-RPC says and go on.
      this.sendError(null, { code: -32700, message: 'Parse error' });
      return;
    }
    if (!Array.isArray(message)) {
      this.handleMessage(message);
    } else if (message.length === 0) {
      this.sendError(null, { code: -32600, message: 'Invalid Request: empty batch' });
    } else {
      // Answers to a batch go out one by one rather than as one array.
      for (const item of message) this.handleMessage(item);
    }
  }

  private handleMessage(msg: unknown): void {
    if (!isRecord(msg)) {
      this.invalid(null, 'not an object');
      return;
    }
    if ('method' in msg) {
      this.handleCall(msg);
      return;
    }
    if ('result' in msg || 'error' in msg) {
      this.handleReply(msg);
      return;
    }
    this.invalid(isId(msg.id) ? msg.id : null, 'neither a request, a notification nor a response');
  }

  private handleCall(msg: Record<string, unknown>): void {
    const id = msg.id;
    const hasId = 'id' in msg;
    if (hasId && !isId(id)) {
      this.invalid(null, 'id must be a string or a number');
      return;
    }
    const method = msg.method;
    if (msg.jsonrpc !== '2.0' || typeof method !== 'string') {
      this.invalid(isId(id) ? id : null, msg.jsonrpc !== '2.0' ? 'jsonrpc must be "2.0"' : 'method must be a string');
      return;
    }
    // JSON-RPC wants params structured, but Warren peers send any value: accept it, map null away.
    const params = msg.params ?? undefined;
    if (isId(id)) {
      this.sink.receiveRequest(id, method, params, CodecId.json);
    } else if (method === CANCEL_METHOD && isRecord(params) && isId(params.id)) {
      this.sink.onCancel(params.id);
    } else if (method === PROGRESS_METHOD && isRecord(params) && isId(params.token)) {
      this.sink.onProgress(params.token, params.value);
    } else {
      this.sink.receiveNotify(method, params);
    }
  }

  private handleReply(msg: Record<string, unknown>): void {
    const id = msg.id;
    // An error with id null answers a message of ours the other side could not read; there is
    // no request to settle, and answering a response would be wrong, so it is dropped.
    if (!isId(id)) return;
    if (msg.jsonrpc !== '2.0') {
      this.sink.onError(id, { code: 'WARREN_PROTOCOL', message: 'JSON-RPC response without jsonrpc "2.0"' });
    } else if ('error' in msg) {
      this.sink.onError(id, fromRpcError(msg.error));
    } else {
      this.sink.onResponse(id, msg.result, false);
    }
  }

  /** Answers an invalid request; JSON-RPC uses id null when the id could not be read. */
  private invalid(id: RequestId | null, reason: string): void {
    this.sendError(id, { code: -32600, message: `Invalid Request: ${reason}` });
  }

  // --- encoding -------------------------------------------------------------------------

  writeRequest(id: RequestId, method: string, params: unknown): void {
    this.send(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params });
  }

  writeNotify(method: string, params: unknown): void {
    this.send(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params });
  }

  writeResponse(id: RequestId, result: unknown, stream: boolean): void {
    if (stream) throw cannotCarry('streamed responses');
    // JSON-RPC requires a result member; undefined would make JSON.stringify drop it.
    this.send({ jsonrpc: '2.0', id, result: result === undefined ? null : result });
  }

  writeError(id: RequestId, error: WireError): void {
    this.sendError(id, toRpcError(error));
  }

  writeCancel(id: RequestId): void {
    this.writeNotify(CANCEL_METHOD, { id });
  }

  writeProgress(id: RequestId, value: unknown): void {
    this.writeNotify(PROGRESS_METHOD, { token: id, value });
  }

  writeStreamItem(): void {
    throw cannotCarry('streams');
  }

  writeStreamEnd(): void {
    throw cannotCarry('streams');
  }

  writeCredit(): void {
    throw cannotCarry('stream credit');
  }

  private sendError(id: RequestId | null, error: RpcErrorObject): void {
    this.send({ jsonrpc: '2.0', id, error });
  }

  /** Pushes one message as one Buffer holding header and body, in a single allocation. */
  private send(message: object): void {
    let json: string;
    try {
      json = JSON.stringify(message);
    } catch (cause) {
      // BigInt and cycles end up here; the peer reports it like any codec failure.
      throw new CodecError('message could not be encoded as JSON', { cause });
    }
    const length = Buffer.byteLength(json, 'utf8');
    const header = `Content-Length: ${length}\r\n\r\n`;
    const frame = Buffer.allocUnsafe(header.length + length);
    frame.write(header, 0, 'latin1');
    frame.write(json, header.length, 'utf8');
    this.out.push(frame);
  }
}

function cannotCarry(what: string): WarrenError {
  return unsupported(`the JSON-RPC framing cannot carry ${what}`);
}

export const createJsonRpcFraming: FramingFactory = (options) => new JsonRpcFraming(options);
