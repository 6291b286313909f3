/** Real ws clients against real hubs, and their cleanup. */
import type { IncomingMessage } from 'node:http';
import { Packr, Unpackr } from 'msgpackr';
import { afterEach } from 'vitest';
import WebSocket from 'ws';
import { type Hub, type HubOptions, startHub } from '../../src/realtime/index.js';
import { until } from '../support/until.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export interface Msg {
  event: string;
  channel?: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever the hub sent
  data?: any;
  id?: number;
  offset?: number;
  error?: { code: string; message: string };
}

export class TestClient {
  readonly ws: WebSocket;
  readonly messages: Msg[] = [];
  readonly binary: boolean;
  closed: { code: number; reason: string } | undefined;
  #nextId = 1;

  constructor(ws: WebSocket, binary: boolean) {
    this.ws = ws;
    this.binary = binary;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.messages.push(isBinary ? unpackr.unpack(data) : JSON.parse(data.toString('utf8')));
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    ws.on('error', () => {});
  }

  send(message: Msg): void {
    this.ws.send(this.binary ? packr.pack(message) : JSON.stringify(message));
  }

  /** Sends with an id and resolves with the ack. */
  async request(message: Msg): Promise<Msg> {
    const id = this.#nextId++;
    this.send({ ...message, id });
    return this.next((m) => m.event === 'ack' && m.id === id);
  }

  async subscribe(channel: string, data?: unknown): Promise<Msg> {
    return this.request({ event: 'subscribe', channel, data });
  }

  /** The first message (from any time) that matches and was not returned by `next` before. */
  async next(match: (m: Msg) => boolean, what = match.toString()): Promise<Msg> {
    return until(() => {
      for (let i = 0; i < this.messages.length; i++) {
        const m = this.messages[i]!;
        if (match(m) && !(m as { taken?: boolean }).taken) {
          Object.defineProperty(m, 'taken', { value: true });
          return m;
        }
      }
      return undefined;
    }, what);
  }

  events(event: string, channel?: string): Msg[] {
    return this.messages.filter((m) => m.event === event && (channel === undefined || m.channel === channel));
  }

  async closedWith(): Promise<number> {
    await until(() => this.closed, 'the client to be closed');
    return this.closed!.code;
  }
}

export interface HandshakeResult {
  status: number;
  upgraded: boolean;
  body: string;
}

/** A handshake that is expected to be refused: resolves with the HTTP status, never leaves an open socket. */
export function refusedHandshake(url: string, options: WebSocket.ClientOptions & { protocols?: string[] } = {}): Promise<HandshakeResult> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols ?? [], options);
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, upgraded: false, body });
        ws.terminate();
      });
    });
    ws.on('open', () => {
      ws.terminate();
      resolve({ status: 101, upgraded: true, body: '' });
    });
    ws.on('error', (error) => reject(error));
  });
}

export function useHubs() {
  const hubs: Hub[] = [];
  const clients: TestClient[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.ws.terminate();
    await Promise.all(hubs.splice(0).map((h) => h.close()));
  });

  async function hub(options: HubOptions = {}): Promise<Hub> {
    const h = await startHub({ port: 0, ...options });
    hubs.push(h);
    return h;
  }

  function url(h: Hub, query = ''): string {
    return `ws://127.0.0.1:${h.port}/ws${query}`;
  }

  /** A connected client (after the hub's `connected` message). */
  async function client(
    h: Hub | string,
    options: { format?: 'json' | 'msgpack'; token?: string; headers?: Record<string, string>; ws?: WebSocket.ClientOptions } = {},
  ): Promise<TestClient> {
    const base = typeof h === 'string' ? h : url(h);
    const target = options.token === undefined ? base : `${base}?token=${encodeURIComponent(options.token)}`;
    const protocols = options.format === 'msgpack' ? ['warren.msgpack'] : options.format === 'json' ? ['warren.json'] : [];
    const ws = new WebSocket(target, protocols, { headers: options.headers, ...options.ws });
    const c = new TestClient(ws, options.format === 'msgpack');
    clients.push(c);
    await c.next((m) => m.event === 'connected');
    return c;
  }

  return { hub, client, url, clients };
}
