/**
 * What a reload changes: the running configuration compared with the one just read from the
 * file, as a plan the supervisor carries out and the lines `warren reload` prints. Pure: no
 * process is touched here.
 *
 * Per service: added (started), removed (drained and stopped), scaled (`instances`), and any
 * other setting changed (entry, env, limits, …: every key of ResolvedService but the name and
 * `instances`), which the supervisor applies by a rolling replace of the instances it keeps.
 * Top level: `socketDir` cannot move under running clients (the reload is refused); `logLevel`
 * and `logDir` are read at start-up only (the reload goes on and says they wait for a restart).
 */
import { isDeepStrictEqual } from 'node:util';
import type { ResolvedConfig, ResolvedService } from './config.js';

export type ServicePlan =
  | { readonly kind: 'add'; readonly name: string; readonly service: ResolvedService }
  | { readonly kind: 'remove'; readonly name: string; readonly service: ResolvedService }
  | {
      readonly kind: 'change';
      readonly name: string;
      readonly before: ResolvedService;
      readonly after: ResolvedService;
      /** Set when `instances` changed. */
      readonly scale: { readonly from: number; readonly to: number } | null;
      /** Set when `standby` changed: standbys are started or stopped, no instance is replaced for it. */
      readonly standby: { readonly from: number; readonly to: number } | null;
      /** The other keys that differ (sorted); the kept instances are replaced when there is any. */
      readonly changed: readonly string[];
    }
  | { readonly kind: 'same'; readonly name: string; readonly service: ResolvedService };

export interface ConfigDiff {
  /** The new file's services in its order, then the removed ones in the running order. */
  readonly services: readonly ServicePlan[];
  /** Top-level changes a reload cannot make: the reload is refused, one line each. */
  readonly refused: readonly string[];
  /** Top-level changes a reload leaves for the next start, one line each. */
  readonly deferred: readonly string[];
}

/** Keys that do not tell whether a service's processes must be replaced. */
const NOT_SETTINGS = new Set(['name', 'instances', 'standby']);

/** Top-level keys read once, when the supervisor starts. */
const START_ONLY = ['logLevel', 'logDir'] as const;

/** Compares the running configuration with the one a reload read. */
export function diffConfig(running: ResolvedConfig, next: ResolvedConfig): ConfigDiff {
  const refused: string[] = [];
  if (running.socketDir !== next.socketDir) {
    refused.push(
      `socketDir: ${running.socketDir} → ${next.socketDir}: a reload cannot move the socket directory (the control socket, the token and every client live there); stop and start the supervisor (\`warren stop\`, then \`warren up\`)`,
    );
  }
  const deferred: string[] = [];
  for (const key of START_ONLY) {
    if (running[key] !== next[key]) {
      deferred.push(
        `${key}: ${String(running[key])} → ${String(next[key])}: not applied by a reload; takes effect at the next \`warren up\``,
      );
    }
  }

  const before = new Map(running.services.map((service) => [service.name, service]));
  const plans: ServicePlan[] = [];
  for (const after of next.services) {
    const old = before.get(after.name);
    before.delete(after.name);
    plans.push(old === undefined ? { kind: 'add', name: after.name, service: after } : compareService(old, after));
  }
  for (const [name, service] of before) plans.push({ kind: 'remove', name, service });
  return { services: plans, refused, deferred };
}

function compareService(before: ResolvedService, after: ResolvedService): ServicePlan {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  const changed = [...keys]
    .filter((key) => !NOT_SETTINGS.has(key))
    .filter((key) => !isDeepStrictEqual(before[key as keyof ResolvedService], after[key as keyof ResolvedService]))
    .sort();
  const scale = before.instances === after.instances ? null : { from: before.instances, to: after.instances };
  const standby = before.standby === after.standby ? null : { from: before.standby, to: after.standby };
  if (scale === null && standby === null && changed.length === 0) return { kind: 'same', name: after.name, service: after };
  return { kind: 'change', name: after.name, before, after, scale, standby, changed };
}

/** True when the reload has something to do besides replacing instances. */
export function hasChanges(diff: ConfigDiff): boolean {
  return diff.services.some((plan) => plan.kind !== 'same');
}

/** The variables of two environments that differ (added, removed or with another value), sorted. Names only: values may be secrets. */
export function changedVariables(before: Readonly<Record<string, string>>, after: Readonly<Record<string, string>>): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((name) => before[name] !== after[name]).sort();
}

/**
 * The line `warren reload` prints for one service's plan: `+ billing (2 instances)`, `- legacy`,
 * `users: instances 2 → 3`, `orders: env changed (API_URL), replacing 2 instances`. `stopped`
 * says the service was stopped with `warren stop <service>`: its settings are updated, but no
 * process is started or replaced.
 */
export function describePlan(plan: ServicePlan, stopped = false): string | null {
  switch (plan.kind) {
    case 'same':
      return null;
    case 'add':
      return `+ ${plan.name} (${count(plan.service.instances)})`;
    case 'remove':
      return `- ${plan.name}${stopped ? ' (was stopped)' : ''}`;
    case 'change': {
      const parts: string[] = [];
      if (plan.scale !== null) parts.push(`instances ${plan.scale.from} → ${plan.scale.to}`);
      if (plan.standby !== null) parts.push(`standby ${plan.standby.from} → ${plan.standby.to}`);
      if (plan.changed.length > 0) {
        const what = plan.changed.map((key) =>
          key === 'env' ? `env (${changedVariables(plan.before.env, plan.after.env).join(', ')})` : key,
        );
        const kept = Math.min(plan.before.instances, plan.after.instances);
        const tail = stopped ? 'applied when it is started' : `replacing ${count(kept)}`;
        parts.push(`${what.join(', ')} changed, ${tail}`);
      }
      const line = `${plan.name}: ${parts.join('; ')}`;
      return stopped ? `${line} (stopped: nothing started; \`warren start ${plan.name}\` uses the new settings)` : line;
    }
  }
}

export function count(instances: number): string {
  return `${instances} instance${instances === 1 ? '' : 's'}`;
}
