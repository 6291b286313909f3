/**
 * warren/client's browser bundle in a real Chromium (Debian's, driven by playwright-core): a page
 * joins a public and a presence channel, receives broadcasts sent by another process through
 * hub.sock, sees presence, and reconnects after the hub cuts it.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect } from '../../src/client/index.js';
import { type Hub, startHub } from '../../src/realtime/index.js';
import { until } from '../support/until.js';

const CHROMIUM = '/usr/bin/chromium';
const run = promisify(execFile);
const emitter = new URL('../fixtures/realtime-emit.mjs', import.meta.url).pathname;
const bundle = path.join(import.meta.dirname, '..', '..', 'dist', 'client', 'warren-client.browser.js');

const page = (hubUrl: string) => `<!doctype html><meta charset="utf-8"><title>warren client</title>
<script type="module">
  import { connect } from '/warren-client.js';
  const log = (window.log = { ticks: [], states: [], members: [], joined: false });
  const client = (window.client = connect(${JSON.stringify(hubUrl)}, { token: 'ann', protocol: 'msgpack', reconnect: { minMs: 20, maxMs: 200 } }));
  client.on('state', (state) => log.states.push(state));
  const lobby = client.subscribe('room:lobby');
  const shop = client.subscribe('presence-shop');
  lobby.on('tick', (data) => log.ticks.push(data.i));
  shop.on('members', (members) => (log.members = members.map((m) => m.userId).sort()));
  Promise.all([lobby.ready, shop.ready]).then(() => (log.joined = true), (e) => (log.error = String(e)));
</script>`;

let browser: Browser | undefined;
let server: Server | undefined;
let hub: Hub | undefined;
let socketDir: string | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's Chromium (apt-get update && apt-get install -y chromium) to run the browser test`,
    );
  }
  socketDir = mkdtempSync(path.join(tmpdir(), 'wcb-'));
  server = createServer((req, res) => {
    if (req.url === '/warren-client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(bundle));
    } else if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(page(`ws://127.0.0.1:${hub?.port}/ws`));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  hub = await startHub({
    port: 0,
    socketDir,
    allowedOrigins: [origin],
    authenticate: (req) => {
      const token = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
      return token ? { userId: token, info: { name: token } } : undefined;
    },
  });
  hub.authorize(({ channel }) => channel === 'presence-shop');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  await hub?.close();
  await new Promise((resolve) => server?.close(resolve));
  if (socketDir) rmSync(socketDir, { recursive: true, force: true });
});

describe('the browser bundle in Chromium', () => {
  it('joins a public and a presence channel, gets broadcasts from another process, sees presence, reconnects', async () => {
    const tab = await browser!.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (error) => errors.push(String(error)));
    await tab.goto(`http://127.0.0.1:${(server!.address() as AddressInfo).port}/`);
    await tab.waitForFunction(() => (globalThis as unknown as { log: { joined: boolean } }).log.joined);
    const log = () => tab.evaluate(() => (globalThis as unknown as { log: { ticks: number[]; states: string[]; members: string[] } }).log);
    expect((await log()).members).toEqual(['ann']);

    // Another process broadcasts through hub.sock.
    const { stdout } = await run(process.execPath, [emitter, socketDir!, 'room:lobby', '3'], { timeout: 20_000 });
    expect(JSON.parse(stdout)).toMatchObject({ dropped: 0 });
    await until(async () => (await log()).ticks.length === 3, 'three ticks in the page');
    expect((await log()).ticks).toEqual([1, 2, 3]);

    // Presence: bob (a Node client) joins and the page lists him.
    const bob = connect(`ws://127.0.0.1:${hub!.port}/ws`, { token: 'bob', WebSocket });
    try {
      await bob.subscribe('presence-shop').ready;
      await until(async () => (await log()).members.length === 2, 'bob in the page');
      expect((await log()).members).toEqual(['ann', 'bob']);

      // The hub cuts the page's connection: it reconnects, resubscribes, and gets what was sent meanwhile.
      for (const connection of hub!.connections) if (connection.userId === 'ann') connection.socket.terminate();
      await until(async () => (await log()).states.includes('reconnecting'), 'the page to notice');
      await run(process.execPath, [emitter, socketDir!, 'room:lobby', '2'], { timeout: 20_000 });
      await until(async () => (await log()).ticks.length === 5, 'the ticks sent around the reconnect');
      expect((await log()).ticks).toEqual([1, 2, 3, 1, 2]);
      expect((await log()).states.at(-1)).toBe('open');
      expect((await log()).members).toEqual(['ann', 'bob']);
    } finally {
      bob.close();
    }
    expect(errors).toEqual([]);
  });
});
