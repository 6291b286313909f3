/**
 * Lines out of a child's stdout and stderr, with bounded memory.
 *
 * `LineSplitter` turns the chunks of a stream into lines: it decodes UTF-8 across chunk
 * boundaries (a character split between two chunks is decoded whole), ends lines at `\n` and
 * drops the `\r` of a `\r\n`, keeps a partial last line until more comes or `end()`, and cuts a
 * line longer than `maxLineLength`: its first `maxLineLength` characters are emitted at once,
 * followed by a marker, and the rest of that line is skipped up to the next newline. Whatever a
 * child prints (100 MB without a newline, say), the splitter holds at most `maxLineLength + 2`
 * characters and a 3-byte decoder remainder.
 *
 * @example
 * const tail = new TailBuffer<string>(20); // src/util/tail-buffer.ts
 * const splitter = splitLines(child.stderr, (line) => tail.push(line));
 */
import { StringDecoder } from 'node:string_decoder';
import { invalidArgument } from '../errors.js';

/** Longest line kept whole, in characters (UTF-16 code units): 16 KiB. */
export const DEFAULT_MAX_LINE_LENGTH = 16_384;

/** What follows the kept part of a line that was too long. */
export function truncationMarker(maxLineLength: number): string {
  return ` [truncated: line longer than ${maxLineLength} characters]`;
}

export interface LineSplitterOptions {
  /** Longest line emitted whole, in characters (UTF-16 code units); default 16 384. */
  maxLineLength?: number;
}

/**
 * Called once per line, without its line ending. `truncated` is true for a line that was cut at
 * `maxLineLength` (the line then ends with `truncationMarker(maxLineLength)`).
 */
export type LineListener = (line: string, truncated: boolean) => void;

export class LineSplitter {
  readonly maxLineLength: number;
  private readonly decoder = new StringDecoder('utf8');
  /** The current line so far: at most maxLineLength + 2 characters (see append). */
  private partial = '';
  /** The current line was already emitted truncated: drop everything up to its newline. */
  private skipping = false;
  private ended = false;

  constructor(
    private readonly onLine: LineListener,
    options: LineSplitterOptions = {},
  ) {
    const max = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
    if (!Number.isSafeInteger(max) || max < 1) throw invalidArgument(`maxLineLength must be a whole number ≥ 1, got ${String(max)}`);
    this.maxLineLength = max;
  }

  /** Feeds a chunk; emits every line it completes. Chunks after end() are ignored. */
  write(chunk: Buffer | Uint8Array | string): void {
    if (this.ended) return;
    this.feed(typeof chunk === 'string' ? chunk : this.decoder.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)));
  }

  /**
   * The stream is over: emits the last line if it had no newline (an incomplete UTF-8 sequence
   * at the very end becomes U+FFFD). Idempotent.
   */
  end(): void {
    if (this.ended) return;
    this.feed(this.decoder.end());
    this.ended = true;
    if (!this.skipping && this.partial !== '') this.emit(stripCr(this.partial), false);
    this.partial = '';
    this.skipping = false;
  }

  /** Characters held for the current, unfinished line (for tests and diagnostics). */
  get pendingLength(): number {
    return this.partial.length;
  }

  private feed(text: string): void {
    let start = 0;
    while (start < text.length) {
      const newline = text.indexOf('\n', start);
      if (newline === -1) {
        this.append(text, start, text.length);
        return;
      }
      this.append(text, start, newline);
      if (this.skipping) this.skipping = false;
      else this.emit(stripCr(this.partial), false);
      this.partial = '';
      start = newline + 1;
    }
  }

  /** Adds text[from, to) to the current line, cutting it once it is too long. */
  private append(text: string, from: number, to: number): void {
    if (this.skipping || from === to) return;
    const max = this.maxLineLength;
    // Take no more than can be judged: max characters, a possible '\r' of a '\r\n', and one
    // more that proves the line too long. A huge chunk is never copied whole.
    this.partial += text.slice(from, Math.min(to, from + (max + 2 - this.partial.length)));
    const length = this.partial.length;
    // A line of exactly max characters followed by '\r' may still end in '\r\n': wait for the next character.
    if (length > max + 1 || (length === max + 1 && !this.partial.endsWith('\r'))) {
      let head = this.partial.slice(0, max);
      // Never cut a surrogate pair in two.
      const last = head.charCodeAt(head.length - 1);
      if (last >= 0xd800 && last <= 0xdbff) head = head.slice(0, -1);
      this.partial = '';
      this.skipping = true;
      this.emit(head + truncationMarker(max), true);
    }
  }

  private emit(line: string, truncated: boolean): void {
    this.onLine(line, truncated);
  }
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/**
 * Splits a readable stream (a child's stdout or stderr) into lines: calls `onLine` for each, and
 * for a last line without a newline when the stream ends or closes. Null streams are ignored.
 */
export function splitLines(
  stream: NodeJS.ReadableStream | null | undefined,
  onLine: LineListener,
  options?: LineSplitterOptions,
): LineSplitter {
  const splitter = new LineSplitter(onLine, options);
  if (stream) {
    stream.on('data', (chunk: Buffer | string) => splitter.write(chunk));
    stream.once('end', () => splitter.end());
    stream.once('close', () => splitter.end());
  }
  return splitter;
}
