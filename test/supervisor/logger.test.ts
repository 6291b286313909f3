import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SupervisorOutput } from '../../src/supervisor/index.js';
import {
  childLevel,
  createSupervisorLog,
  FOLLOW_QUEUE_LIMIT,
  type LogLine,
  prettyTag,
  readChildLine,
  type SupervisorLog,
  type SupervisorLogOptions,
} from '../../src/supervisor/logger.js';

let dir: string;
const logs: SupervisorLog[] = [];

beforeEach(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'warren-logger-')));
});

afterEach(async () => {
  await Promise.all(logs.splice(0).map((log) => log.close()));
  rmSync(dir, { recursive: true, force: true });
});

/** A log writing its terminal output into `text()`. */
function makeLog(options: Partial<SupervisorLogOptions> = {}) {
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  const log = createSupervisorLog({ level: 'info', logDir: null, pretty: false, destination: out, ...options });
  logs.push(log);
  return { log, text: () => text, json: () => jsonLines(text) };
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function fileLines(name: string): Record<string, unknown>[] {
  return jsonLines(readFileSync(join(dir, 'logs', `${name}.log`), 'utf8'));
}

describe('terminal output', () => {
  it('writes one JSON object per line, each tagged with service and instance', () => {
    const { log, json } = makeLog();
    log.logger.info('supervisor up');
    log.instance('users', 0).info('started (pid 42)');
    log.service('users').warn('restarting');
    log.line('users', 0, 'stdout', 'hello from users');
    const lines = json();
    expect(lines.map(({ level, service, instance, stream, msg }) => ({ level, service, instance, stream, msg }))).toEqual([
      { level: 30, service: 'supervisor', instance: undefined, stream: undefined, msg: 'supervisor up' },
      { level: 30, service: 'users', instance: 0, stream: undefined, msg: 'started (pid 42)' },
      { level: 40, service: 'users', instance: undefined, stream: undefined, msg: 'restarting' },
      { level: 30, service: 'users', instance: 0, stream: 'stdout', msg: 'hello from users' },
    ]);
    for (const line of lines) {
      expect(typeof line.time).toBe('number');
      expect(line).not.toHaveProperty('pid');
      expect(line).not.toHaveProperty('hostname');
    }
  });

  it('pretty output carries the service.instance tag and no JSON', () => {
    const { log, text } = makeLog({ pretty: true, colorize: false });
    log.logger.info('supervisor up');
    log.instance('users', 0).info('started');
    log.line('users', 0, 'stderr', 'something odd');
    log.line('orders', 1, 'stdout', JSON.stringify({ level: 50, time: 1, msg: 'db down', code: 'ECONNREFUSED' }));
    const lines = text().split('\n').filter(Boolean);
    expect(lines.some((line) => /INFO.*\[supervisor\] supervisor up/.test(line))).toBe(true);
    expect(lines.some((line) => /INFO.*\[users\.0\] started/.test(line))).toBe(true);
    expect(lines.some((line) => /WARN.*\[users\.0 err\] something odd/.test(line))).toBe(true);
    expect(lines.some((line) => /ERROR.*\[orders\.1 out\] db down/.test(line))).toBe(true);
    expect(text()).toContain('ECONNREFUSED');
    for (const line of lines) expect(line.trimStart().startsWith('{')).toBe(false);
    expect(text()).not.toContain('\u001b[');
  });

  it('is pretty by default only on a TTY', () => {
    const plain = makeLog({ pretty: undefined });
    plain.log.logger.info('x');
    expect(() => plain.json()).not.toThrow();
    const tty = new PassThrough() as PassThrough & { isTTY: boolean };
    tty.isTTY = true;
    let text = '';
    tty.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    const log = createSupervisorLog({ level: 'info', logDir: null, destination: tty });
    logs.push(log);
    log.logger.info('on a terminal');
    expect(text).toMatch(/INFO.*\[supervisor\] on a terminal/);
    expect(text).not.toContain('\u001b['); // colours only on process.stdout by default
  });

  it('prettyTag names who a line is about', () => {
    expect(prettyTag({})).toBe('[supervisor]');
    expect(prettyTag({ service: 'users' })).toBe('[users]');
    expect(prettyTag({ service: 'users', instance: 0 })).toBe('[users.0]');
    expect(prettyTag({ service: 'users', instance: 3, stream: 'stdout' })).toBe('[users.3 out]');
    expect(prettyTag({ service: 'users', instance: 3, stream: 'stderr' })).toBe('[users.3 err]');
  });

  it('stops writing to a broken terminal without throwing, and keeps the other outputs', async () => {
    const broken = new Writable({
      write(_chunk, _encoding, callback) {
        callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const log = createSupervisorLog({ level: 'info', logDir: join(dir, 'logs'), pretty: false, destination: broken });
    logs.push(log);
    log.logger.info('first');
    await new Promise((resolve) => broken.once('error', resolve));
    log.logger.info('second');
    log.line('users', 0, 'stdout', 'third');
    await log.flush();
    expect(fileLines('supervisor').map((line) => line.msg)).toEqual(['first', 'second']);
    expect(log.recent().map((line) => line.msg)).toEqual(['first', 'second', 'third']);
  });

  it('flush() waits until the terminal has drained', async () => {
    const pending: (() => void)[] = [];
    const slow = new Writable({
      highWaterMark: 1,
      write(_chunk, _encoding, callback) {
        pending.push(callback);
      },
    });
    const log = createSupervisorLog({ level: 'info', logDir: null, pretty: false, destination: slow });
    logs.push(log);
    log.logger.info('one');
    log.logger.info('two');
    let flushed = false;
    const flushing = log.flush().then(() => {
      flushed = true;
    });
    await Promise.resolve();
    expect(flushed).toBe(false);
    while (pending.length > 0 || !flushed) {
      pending.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await flushing;
    expect(flushed).toBe(true);
  });
});

describe("children's lines", () => {
  it('keeps the fields, level and time of a pino JSON line and tags it', () => {
    const { log, json } = makeLog();
    const child = {
      level: 50,
      time: 1_700_000_000_123,
      pid: 999,
      hostname: 'box',
      msg: 'query failed',
      reqId: 'r-1',
      err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at x' },
    };
    log.line('users', 2, 'stdout', JSON.stringify(child));
    const [line] = json();
    expect(line).toEqual({ ...child, service: 'users', instance: 2, stream: 'stdout' });
    const [record] = log.recent('users');
    expect(record).toEqual({
      time: 1_700_000_000_123,
      level: 'error',
      service: 'users',
      instance: 2,
      stream: 'stdout',
      msg: 'query failed',
      fields: { pid: 999, hostname: 'box', reqId: 'r-1', err: child.err },
    });
  });

  it('maps string levels and `message`, and keeps differing service/instance/stream fields under other names', () => {
    const { log, json } = makeLog({ level: 'trace' });
    log.line('users', 0, 'stdout', JSON.stringify({ level: 'WARNING', message: 'disk low', time: '2026-01-02T03:04:05.000Z' }));
    log.line('users', 0, 'stdout', JSON.stringify({ level: 'debug', msg: 'tick', service: 'users-api', instance: 0, stream: 'x' }));
    log.line('users', 0, 'stderr', JSON.stringify({ level: 'loud', msg: 'custom level' }));
    const lines = json();
    expect(lines[0]).toMatchObject({ level: 40, msg: 'disk low', time: '2026-01-02T03:04:05.000Z', service: 'users', instance: 0 });
    expect(lines[1]).toMatchObject({
      level: 20,
      msg: 'tick',
      service: 'users',
      instance: 0,
      stream: 'stdout',
      childService: 'users-api',
      childStream: 'x',
    });
    expect(lines[1]).not.toHaveProperty('childInstance');
    expect(lines[2]).toMatchObject({ level: 40, msg: 'custom level', childLevel: 'loud', stream: 'stderr' });
    expect(log.recent('users')[0]?.time).toBe(Date.parse('2026-01-02T03:04:05.000Z'));
  });

  it('logs other lines as msg: info from stdout, warn from stderr; drops blank lines', () => {
    const { log, json } = makeLog();
    log.line('users', 0, 'stdout', 'listening on /tmp/users.0.sock');
    log.line('users', 0, 'stderr', '(node:1) DeprecationWarning: something');
    log.line('users', 0, 'stderr', '   ');
    log.line('users', 0, 'stdout', '');
    log.line('users', 0, 'stdout', '{"not":"a log line"}');
    log.line('users', 0, 'stdout', '[1,2,3]');
    log.line('users', 0, 'stdout', '{broken json}');
    log.line('users', 0, 'stdout', '100% done %s %d');
    expect(json().map(({ level, stream, msg }) => [level, stream, msg])).toEqual([
      [30, 'stdout', 'listening on /tmp/users.0.sock'],
      [40, 'stderr', '(node:1) DeprecationWarning: something'],
      [30, 'stdout', '{"not":"a log line"}'],
      [30, 'stdout', '[1,2,3]'],
      [30, 'stdout', '{broken json}'],
      [30, 'stdout', '100% done %s %d'],
    ]);
  });

  it('marks a truncated line', () => {
    const { log, json } = makeLog();
    log.line('users', 0, 'stdout', 'xxxx [truncated]', true);
    expect(json()[0]).toMatchObject({ truncated: true, msg: 'xxxx [truncated]' });
  });

  it('never throws on odd input, nor lets a child pollute prototypes', () => {
    const { log, json } = makeLog({ level: 'trace' });
    const odd = [
      '{',
      '}',
      '{"level":{}}',
      '{"level":{},"msg":1}',
      '{"level":30,"msg":{"nested":[1,2]}}',
      '{"level":30,"time":"not a date","msg":"bad time"}',
      '{"level":30,"time":{"a":1},"msg":"object time"}',
      '{"__proto__":{"polluted":true},"level":30,"msg":"proto"}',
      '{"constructor":{"prototype":{"polluted":true}},"level":"info","msg":"ctor"}',
      '{"level":1e400,"msg":"huge level"}',
      '{"level":-5,"msg":"negative level"}',
      '\u0000\u0001\u001b[31mred\u001b[0m',
      '\uD800 lone surrogate',
      `{"level":30,"msg":"${'deep'.repeat(1000)}"}`,
    ];
    for (const line of odd) expect(() => log.line('users', 0, 'stdout', line)).not.toThrow();
    expect(() => log.line('users', 0, 'stdout', undefined as unknown as string)).not.toThrow();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const lines = json();
    expect(lines).toHaveLength(odd.length);
    expect(lines.find((line) => line.msg === 'proto')).not.toHaveProperty('polluted');
    expect(lines.find((line) => line.msg === '{"nested":[1,2]}')).toBeDefined();
    expect(lines.find((line) => line.msg === 'object time')).toMatchObject({ childTime: { a: 1 } });
    expect(lines.find((line) => line.msg === 'huge level')).toMatchObject({ level: 30, childLevel: null }); // Infinity: not a level
    expect(lines.find((line) => line.msg === 'negative level')).toMatchObject({ level: 10 });
    for (const record of log.recent()) expect(Number.isFinite(record.time)).toBe(true);
  });

  it('childLevel maps numbers and names', () => {
    expect([10, 20, 30, 35, 40, 50, 60, 70, 0].map(childLevel)).toEqual([
      'trace',
      'debug',
      'info',
      'info',
      'warn',
      'error',
      'fatal',
      'fatal',
      'trace',
    ]);
    expect(['TRACE', 'verbose', 'Info', 'notice', 'warning', 'err', 'critical', 'emerg', '50', ' warn '].map(childLevel)).toEqual([
      'trace',
      'debug',
      'info',
      'info',
      'warn',
      'error',
      'fatal',
      'fatal',
      'error',
      'warn',
    ]);
    expect([null, {}, 'loud', Number.NaN, true].map(childLevel)).toEqual([null, null, null, null, null]);
  });

  it('readChildLine tells log lines from plain ones', () => {
    expect(readChildLine('s', 0, 'stderr', 'plain')).toEqual({ level: 'warn', msg: 'plain', fields: {}, json: false });
    expect(readChildLine('s', 0, 'stdout', '{"level":30}')).toMatchObject({ json: false });
    expect(readChildLine('s', 0, 'stdout', '  {"level":30,"time":5}  ')).toEqual({
      level: 'info',
      msg: '',
      fields: { time: 5 },
      json: true,
    });
  });
});

describe('levels', () => {
  it('drops lines below the level everywhere', () => {
    const { log, json } = makeLog({ level: 'warn', logDir: join(dir, 'logs') });
    log.logger.info('not shown');
    log.logger.warn('shown');
    log.instance('users', 0).debug('not shown');
    log.line('users', 0, 'stdout', 'plain stdout: info, not shown');
    log.line('users', 0, 'stderr', 'plain stderr: warn, shown');
    log.line('users', 0, 'stdout', '{"level":"error","msg":"json error, shown"}');
    log.line('users', 0, 'stdout', '{"level":20,"msg":"json debug, not shown"}');
    const shown = ['shown', 'plain stderr: warn, shown', 'json error, shown'];
    expect(json().map((line) => line.msg)).toEqual(shown);
    expect([...fileLines('supervisor'), ...fileLines('users')].map((line) => line.msg)).toEqual(shown);
    expect(log.recent().map((line) => line.msg)).toEqual(shown);
  });

  it('silent writes nothing: not the terminal, the files or memory', async () => {
    const { log, text } = makeLog({ level: 'silent', logDir: join(dir, 'logs') });
    const seen: LogLine[] = [];
    log.subscribe(undefined, (line) => seen.push(line));
    log.logger.fatal('nothing');
    log.instance('users', 0).error('nothing');
    log.line('users', 0, 'stderr', 'nothing');
    log.event('error', null, null, 'nothing');
    await log.flush();
    expect(text()).toBe('');
    expect(readFileSync(join(dir, 'logs', 'supervisor.log'), 'utf8')).toBe('');
    expect(existsSync(join(dir, 'logs', 'users.log'))).toBe(false);
    expect(log.recent()).toEqual([]);
    expect(seen).toEqual([]);
  });
});

describe('log files', () => {
  it("puts a service's lines in <service>.log and the supervisor's own in supervisor.log", async () => {
    const logDir = join(dir, 'logs');
    const { log } = makeLog({ logDir });
    log.logger.info('supervisor starting');
    log.instance('users', 0).info('started');
    log.line('users', 0, 'stdout', 'users says hi');
    log.line('orders', 1, 'stderr', JSON.stringify({ level: 30, time: 7, msg: 'orders ready', port: 1 }));
    log.event('error', 'orders', null, 'errored: gave up');
    log.event('info', null, null, 'all up');
    await log.flush();
    expect(fileLines('supervisor').map((line) => line.msg)).toEqual(['supervisor starting', 'all up']);
    expect(fileLines('users')).toEqual([
      expect.objectContaining({ service: 'users', instance: 0, msg: 'started' }),
      expect.objectContaining({ service: 'users', instance: 0, stream: 'stdout', msg: 'users says hi' }),
    ]);
    expect(fileLines('orders')).toEqual([
      { level: 30, time: 7, service: 'orders', instance: 1, stream: 'stderr', msg: 'orders ready', port: 1 },
      expect.objectContaining({ level: 50, service: 'orders', msg: 'errored: gave up' }),
    ]);
  });

  it('creates logDir 0700 with files 0600, and appends to existing files', async () => {
    const logDir = join(dir, 'nested', 'logs');
    const first = createSupervisorLog({ level: 'info', logDir, pretty: false, destination: new PassThrough() });
    first.instance('users', 0).info('first run');
    await first.close();
    expect(statSync(logDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(logDir, 'users.log')).mode & 0o777).toBe(0o600);
    expect(statSync(join(logDir, 'supervisor.log')).mode & 0o777).toBe(0o600);
    const second = createSupervisorLog({ level: 'info', logDir, pretty: false, destination: new PassThrough() });
    second.instance('users', 1).info('second run');
    await second.close();
    const lines = readFileSync(join(logDir, 'users.log'), 'utf8').split('\n').filter(Boolean);
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual(['first run', 'second run']);
  });

  it('lines about a name that is not a service name go to supervisor.log', async () => {
    const { log } = makeLog({ logDir: join(dir, 'logs') });
    log.instance('../escape', 0).info('odd name');
    await log.flush();
    expect(fileLines('supervisor')).toEqual([expect.objectContaining({ service: '../escape', msg: 'odd name' })]);
    expect(existsSync(join(dir, 'escape.log'))).toBe(false);
  });

  it('refuses a logDir it cannot use with WARREN_CONFIG', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    expect(() => createSupervisorLog({ level: 'info', logDir: file, destination: new PassThrough() })).toThrow(
      expect.objectContaining({ code: 'WARREN_CONFIG', issues: [expect.objectContaining({ path: 'logDir' })] }),
    );
  });

  it('close() is idempotent; lines after it are dropped without throwing', async () => {
    const { log, text } = makeLog({ logDir: join(dir, 'logs') });
    log.logger.info('before');
    await Promise.all([log.close(), log.close()]);
    await log.close();
    expect(() => log.logger.info('after')).not.toThrow();
    expect(() => log.line('users', 0, 'stdout', 'after')).not.toThrow();
    expect(jsonLines(text()).map((line) => line.msg)).toEqual(['before']);
    expect(fileLines('supervisor').map((line) => line.msg)).toEqual(['before']);
  });
});

describe('recent and subscribe', () => {
  it('keeps the last lines per service, and merges them in order', () => {
    const { log } = makeLog({ recent: 3 });
    for (let i = 0; i < 5; i++) {
      log.line('users', 0, 'stdout', `u${i}`);
      log.line('orders', 0, 'stdout', `o${i}`);
    }
    log.logger.info('s0');
    expect(log.recent('users').map((line) => line.msg)).toEqual(['u2', 'u3', 'u4']);
    expect(log.recent('users', 2).map((line) => line.msg)).toEqual(['u3', 'u4']);
    expect(log.recent('nobody')).toEqual([]);
    expect(log.recent().map((line) => line.msg)).toEqual(['u2', 'o2', 'u3', 'o3', 'u4', 'o4', 's0']);
    expect(log.recent(undefined, 4).map((line) => line.msg)).toEqual(['o3', 'u4', 'o4', 's0']);
    expect(log.recent('supervisor')).toEqual([
      expect.objectContaining({ service: 'supervisor', instance: null, stream: 'supervisor', msg: 's0' }),
    ]);
    expect(Object.isFrozen(log.recent('users')[0])).toBe(true);
  });

  it('calls subscribers with new lines of their service, or of all, until they unsubscribe', () => {
    const { log } = makeLog();
    const users: string[] = [];
    const all: string[] = [];
    const stopUsers = log.subscribe('users', (line) => users.push(line.msg));
    log.subscribe(undefined, (line) => all.push(`${line.service}:${line.msg}`));
    log.subscribe(undefined, () => {
      throw new Error('a bad listener');
    });
    log.line('users', 0, 'stdout', 'one');
    log.instance('orders', 0).info('two');
    stopUsers();
    log.line('users', 0, 'stdout', 'three');
    expect(users).toEqual(['one']);
    expect(all).toEqual(['users:one', 'orders:two', 'users:three']);
  });

  it('logs() gives the recent lines, then follows new ones until aborted', async () => {
    const { log } = makeLog();
    log.line('users', 0, 'stdout', 'old 1');
    log.line('orders', 0, 'stdout', 'other service');
    log.line('users', 0, 'stdout', 'old 2');
    log.line('users', 0, 'stdout', 'old 3');
    const controller = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const line of log.logs({ service: 'users', lines: 2, follow: true }, controller.signal)) {
        seen.push(line.msg);
        if (line.msg === 'old 3') {
          log.line('users', 0, 'stdout', 'new 1');
          log.line('orders', 0, 'stdout', 'not for this reader');
        }
        if (line.msg === 'new 1') setImmediate(() => log.line('users', 1, 'stderr', 'new 2'));
        if (line.msg === 'new 2') controller.abort();
      }
    })();
    await done;
    expect(seen).toEqual(['old 2', 'old 3', 'new 1', 'new 2']);
  });

  it('logs() without follow ends after the recent lines; a follower ends when the log closes', async () => {
    const { log } = makeLog();
    log.logger.info('a');
    log.logger.info('b');
    const once: string[] = [];
    for await (const line of log.logs({})) once.push(line.msg);
    expect(once).toEqual(['a', 'b']);

    const followed: string[] = [];
    const following = (async () => {
      for await (const line of log.logs({ follow: true })) {
        followed.push(line.msg);
        if (line.msg === 'b') void log.close();
      }
    })();
    await following;
    expect(followed).toEqual(['a', 'b']);
  });

  it('a follower that falls too far behind is told how many lines it lost', async () => {
    const { log } = makeLog({ recent: 0 });
    const iterator = log.logs({ follow: true })[Symbol.asyncIterator]();
    const first = iterator.next();
    log.logger.info('line 0');
    expect((await first).value?.msg).toBe('line 0');
    for (let i = 1; i <= FOLLOW_QUEUE_LIMIT + 5; i++) log.logger.info(`line ${i}`);
    const notice = (await iterator.next()).value as LogLine;
    expect(notice).toMatchObject({ level: 'warn', fields: { dropped: 5 } });
    expect((await iterator.next()).value?.msg).toBe('line 6');
    await iterator.return?.();
  });

  it('is a SupervisorOutput', () => {
    const { log, json } = makeLog();
    const output: SupervisorOutput = log;
    output.event('warn', 'users', 1, 'unresponsive: recycling');
    output.line('users', 1, 'stderr', 'bye');
    expect(json().map(({ level, service, instance, msg }) => [level, service, instance, msg])).toEqual([
      [40, 'users', 1, 'unresponsive: recycling'],
      [40, 'users', 1, 'bye'],
    ]);
  });
});
