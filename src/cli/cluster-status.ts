/**
 * `warren status --cluster`: every service and instance on every host that shares NATS, from the
 * NATS service API ($SRV.STATS, gathered for --wait ms). NATS is found as services find it
 * (NATS_URL and the NATS_* credentials, docs/config.md). Exit code 2 when NATS cannot be reached.
 */
import { isWarrenError } from '../errors.js';
import { type ClusterInstance, gatherCluster } from '../service/nats/cluster.js';
import { resolveNatsOptions } from '../service/nats/options.js';
import type { SupervisorCommandIo } from './supervisor-commands.js';

export interface ClusterStatusOptions {
  json?: boolean;
  /** How long answers are gathered, in ms (500). */
  wait?: number;
  /** NATS server URL(s), over NATS_URL. */
  natsUrl?: string;
}

export async function clusterStatusCommand(
  options: ClusterStatusOptions,
  io: SupervisorCommandIo,
  command = 'warren status',
): Promise<number> {
  let instances: ClusterInstance[];
  try {
    const nats = resolveNatsOptions(options.natsUrl === undefined ? {} : { url: options.natsUrl }, io.env ?? process.env);
    instances = await gatherCluster(nats, options.wait === undefined ? {} : { waitMs: options.wait });
  } catch (error) {
    const code = isWarrenError(error) ? error.code : 'WARREN_NATS_UNAVAILABLE';
    io.err(`${command}: ${code}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  if (options.json) {
    io.out(`${JSON.stringify({ instances }, null, io.isTTY ? 2 : undefined)}\n`);
    return 0;
  }
  io.out(formatCluster(instances));
  return 0;
}

export function formatCluster(instances: ClusterInstance[]): string {
  if (instances.length === 0) return 'no service answers on NATS\n';
  const header = ['service', 'instance', 'host', 'pid', 'state', 'requests', 'errors', 'in flight', 'p50 ms', 'p99 ms', 'memory', 'id'];
  const rows = instances.map((i) => [
    i.service,
    i.instance === null ? '-' : String(i.instance),
    i.host ?? '-',
    i.pid === null ? '-' : String(i.pid),
    i.warren ? (i.draining ? 'draining' : 'online') : 'not warren',
    String(i.requests),
    String(i.errors),
    i.inFlight === null ? '-' : String(i.inFlight),
    i.metrics ? String(i.metrics.service.p50Ms) : '-',
    i.metrics ? String(i.metrics.service.p99Ms) : '-',
    i.rssBytes === null ? '-' : `${(i.rssBytes / 1048576).toFixed(1)} MB`,
    i.id,
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] as string).length)));
  const line = (cells: string[]) =>
    `${cells
      .map((cell, c) => cell.padEnd(widths[c] as number))
      .join('  ')
      .trimEnd()}\n`;
  const services = new Set(instances.map((i) => i.service)).size;
  const hosts = new Set(instances.map((i) => i.host ?? i.id)).size;
  return `${line(header)}${rows.map(line).join('')}${instances.length} instance(s) of ${services} service(s) on ${hosts} host(s)\n`;
}
