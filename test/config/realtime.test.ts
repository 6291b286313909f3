import { describe, expect, it } from 'vitest';
import { REALTIME_DEFAULTS, resolveRealtimeConfig } from '../../src/config/realtime.js';
import { ConfigError } from '../../src/errors.js';

describe('the realtime section', () => {
  it('defaults: 127.0.0.1:6001/ws, 10 MiB messages, 5 MiB write buffer, 60 s heartbeat, unix/local/json', () => {
    expect(resolveRealtimeConfig(undefined, {})).toMatchObject({
      ...REALTIME_DEFAULTS,
      maxMessageSize: 10 * 1024 * 1024,
      writeBufferSize: 5 * 1024 * 1024,
      allowedOrigins: [],
    });
  });

  it('the environment wins over the file, WARREN_-prefixed over plain; lists are comma-separated', () => {
    const config = resolveRealtimeConfig(
      { port: 7000, host: '0.0.0.0', formatter: 'json' },
      {
        WS_PORT: '7001',
        WARREN_WS_PORT: '7002',
        WS_ALLOWED_ORIGINS: 'https://a.example, https://b.example',
        WS_FORMATTER: 'msgpack',
        WS_HOST: '',
      },
    );
    expect(config).toMatchObject({
      port: 7002,
      host: '0.0.0.0',
      allowedOrigins: ['https://a.example', 'https://b.example'],
      formatter: 'msgpack',
    });
  });

  it('a bad value names its key or variable, the value and what was expected; redis needs a URL', () => {
    const bad = () => resolveRealtimeConfig({ maxMessageSize: -1, colour: 'red' }, { WS_HEARTBEAT_INTERVAL: 'soon' });
    expect(bad).toThrow(ConfigError);
    try {
      bad();
    } catch (error) {
      const lines = (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
      expect(lines).toContain('realtime.maxMessageSize: expected a whole number of bytes ≥ 1 (got -1)');
      expect(lines.some((l) => l.startsWith('WS_HEARTBEAT_INTERVAL: expected a number of seconds > 0'))).toBe(true);
      expect(lines.some((l) => l.includes('colour'))).toBe(true);
    }
    expect(() => resolveRealtimeConfig({ broadcast: 'redis' }, {})).toThrow(/needs redisUrl/);
    expect(resolveRealtimeConfig({ broadcast: 'redis' }, { REDIS_URL: 'redis://127.0.0.1:6379' }).redisUrl).toBe('redis://127.0.0.1:6379');
  });
});
