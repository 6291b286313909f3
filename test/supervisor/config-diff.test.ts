// The reload plan: the running configuration against the one read again, as pure data and the
// lines `warren reload` prints.
import { describe, expect, it } from 'vitest';
import { changedVariables, describePlan, diffConfig, hasChanges } from '../../src/supervisor/config-diff.js';
import { parseConfig } from '../../src/supervisor/index.js';

const base = '/srv/app';
const config = (raw: Record<string, unknown>) => parseConfig({ socketDir: '/run/w', ...raw }, { baseDir: base, env: {} });
const svc = (name: string, extra: Record<string, unknown> = {}) => ({ name, entry: `./${name}.mjs`, ...extra });

describe('diffConfig', () => {
  it('the same file: every service the same, nothing refused or deferred', () => {
    const a = config({ services: [svc('users', { instances: 2, env: { A: '1' } }), svc('orders')] });
    const b = config({ services: [svc('users', { instances: 2, env: { A: '1' } }), svc('orders')] });
    const diff = diffConfig(a, b);
    expect(diff.services.map((p) => [p.kind, p.name])).toEqual([
      ['same', 'users'],
      ['same', 'orders'],
    ]);
    expect(diff.refused).toEqual([]);
    expect(diff.deferred).toEqual([]);
    expect(hasChanges(diff)).toBe(false);
    expect(diff.services.map((p) => describePlan(p))).toEqual([null, null]);
  });

  it('added, removed, scaled and changed services, in the new file order, removed ones last', () => {
    const a = config({
      services: [svc('legacy'), svc('users', { instances: 2 }), svc('orders', { instances: 2, env: { KEEP: 'x', OLD: '1' } })],
    });
    const b = config({
      services: [svc('orders', { instances: 2, env: { KEEP: 'x', NEW: '2' } }), svc('billing'), svc('users', { instances: 3 })],
    });
    const diff = diffConfig(a, b);
    expect(hasChanges(diff)).toBe(true);
    expect(diff.services.map((p) => [p.kind, p.name])).toEqual([
      ['change', 'orders'],
      ['add', 'billing'],
      ['change', 'users'],
      ['remove', 'legacy'],
    ]);
    const [orders, billing, users, legacy] = diff.services;
    expect(orders).toMatchObject({ scale: null, changed: ['env'] });
    expect(users).toMatchObject({ scale: { from: 2, to: 3 }, changed: [] });
    expect(diff.services.map((p) => describePlan(p))).toEqual([
      'orders: env (NEW, OLD) changed, replacing 2 instances',
      '+ billing (1 instance)',
      'users: instances 2 → 3',
      '- legacy',
    ]);
    expect(billing?.kind === 'add' && billing.service.entry).toBe('/srv/app/billing.mjs');
    expect(legacy?.kind === 'remove' && legacy.service.name).toBe('legacy');
  });

  it('a scale and another change together: the kept instances are replaced, the fewer of before and after', () => {
    const a = config({ services: [svc('users', { instances: 3, maxMemoryMB: 100 })] });
    const b = config({ services: [svc('users', { instances: 2, maxMemoryMB: 200, entry: './users2.mjs' })] });
    const [plan] = diffConfig(a, b).services;
    expect(plan).toMatchObject({ kind: 'change', scale: { from: 3, to: 2 }, changed: ['entry', 'maxMemoryMB'] });
    expect(describePlan(plan!)).toBe('users: instances 3 → 2; entry, maxMemoryMB changed, replacing 2 instances');
  });

  it('every setting but name and instances counts as a change, nested ones (restart) included', () => {
    const a = config({ services: [svc('users')] });
    for (const extra of [
      { restart: { minDelayMs: 50 } },
      { drainTimeoutMs: 1 },
      { readyTimeoutMs: 99 },
      { maxRequests: 5 },
      { execTimeoutMs: 5 },
    ]) {
      const [plan] = diffConfig(a, config({ services: [svc('users', extra)] })).services;
      expect(plan).toMatchObject({ kind: 'change', scale: null, changed: Object.keys(extra) });
    }
  });

  it('a .env value that reaches the services is an env change', () => {
    const a = parseConfig({ socketDir: '/run/w', services: [svc('users')] }, { baseDir: base, env: {} });
    const b = parseConfig(
      { socketDir: '/run/w', services: [svc('users')] },
      { baseDir: base, env: {}, envFile: { path: '/srv/app/.env', values: { TOKEN: 's3cret' } } },
    );
    const [plan] = diffConfig(a, b).services;
    expect(describePlan(plan!)).toBe('users: env (TOKEN) changed, replacing 1 instance');
    // Names only: a value may be a secret.
    expect(describePlan(plan!)).not.toContain('s3cret');
  });

  it('a stopped service: its settings change, nothing is started or replaced, and the line says so', () => {
    const a = config({ services: [svc('users', { env: { A: '1' } })] });
    const b = config({ services: [svc('users', { env: { A: '2' } })] });
    const [plan] = diffConfig(a, b).services;
    expect(describePlan(plan!, true)).toBe(
      'users: env (A) changed, applied when it is started (stopped: nothing started; `warren start users` uses the new settings)',
    );
  });

  it('refuses a new socketDir (it names both and says to restart); defers logLevel and logDir', () => {
    const a = config({ services: [svc('users')] });
    const b = config({ socketDir: '/run/other', logLevel: 'debug', logDir: './logs', services: [svc('users')] });
    const diff = diffConfig(a, b);
    expect(diff.refused).toEqual([
      'socketDir: /run/w → /run/other: a reload cannot move the socket directory (the control socket, the token and every client live there); stop and start the supervisor (`warren stop`, then `warren up`)',
    ]);
    expect(diff.deferred).toEqual([
      'logLevel: info → debug: not applied by a reload; takes effect at the next `warren up`',
      'logDir: null → /srv/app/logs: not applied by a reload; takes effect at the next `warren up`',
    ]);
  });
});

describe('changedVariables', () => {
  it('names the variables added, removed or changed, sorted, and not the ones kept', () => {
    expect(changedVariables({ A: '1', B: '2', C: '3' }, { A: '1', B: 'x', D: '4' })).toEqual(['B', 'C', 'D']);
    expect(changedVariables({}, {})).toEqual([]);
  });
});
