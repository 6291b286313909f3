/**
 * Every service instance on every host that shares a NATS server, from the NATS service API:
 * one `$SRV.STATS` request, and every instance's answer gathered for a short while (NATS has no
 * list to read: whoever answers within the wait is there). Warren instances carry their figures
 * in the endpoint's `data`; other NATS services (not Warren's) are listed with what the schema has.
 */
import { connect, type Msg } from '@nats-io/transport-node';
import { natsUnavailable } from '../../errors.js';
import type { MetricsSnapshot } from '../metrics.js';
import { connectionOptions, messageOf } from './link.js';
import type { ResolvedNatsOptions } from './options.js';
import type { WarrenEndpointData } from './service-api.js';

export interface ClusterInstance {
  service: string;
  /** The instance's id on NATS. */
  id: string;
  version: string;
  /** Whether it is a Warren instance (else another NATS service, with fewer figures). */
  warren: boolean;
  instance: number | null;
  host: string | null;
  pid: number | null;
  started: string | null;
  requests: number;
  errors: number;
  inFlight: number | null;
  draining: boolean;
  rssBytes: number | null;
  metrics: MetricsSnapshot | null;
}

export interface GatherOptions {
  /** How long answers are gathered, in ms (500). */
  waitMs?: number;
}

/** Asks `$SRV.STATS` and returns what answered within the wait, sorted by service, host and instance. */
export async function gatherCluster(options: ResolvedNatsOptions, gather: GatherOptions = {}): Promise<ClusterInstance[]> {
  const waitMs = gather.waitMs ?? 500;
  let connection: Awaited<ReturnType<typeof connect>>;
  try {
    connection = await connect({ ...connectionOptions(options, `warren status --cluster (pid ${process.pid})`), reconnect: false });
  } catch (error) {
    throw natsUnavailable(`NATS at ${options.servers.join(',')} is not reachable: ${messageOf(error)}`, { cause: error });
  }
  const found: ClusterInstance[] = [];
  try {
    const replies = await connection.requestMany('$SRV.STATS', '', { maxWait: waitMs });
    for await (const msg of replies) {
      const instance = parseStats(msg);
      if (instance) found.push(instance);
    }
  } catch (error) {
    // No service at all subscribes to $SRV: NATS says so at once, and the list is empty.
    if (!/no responders/i.test(messageOf(error))) throw error;
  } finally {
    await connection.close();
  }
  return found.sort(
    (a, b) => a.service.localeCompare(b.service) || (a.host ?? '').localeCompare(b.host ?? '') || (a.instance ?? 0) - (b.instance ?? 0),
  );
}

/** One stats_response; undefined for anything else (a reply that is not one is skipped, never trusted). */
function parseStats(msg: Msg): ClusterInstance | undefined {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(new TextDecoder().decode(msg.data)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (doc.type !== 'io.nats.micro.v1.stats_response' || typeof doc.name !== 'string' || typeof doc.id !== 'string') return undefined;
  const endpoints = Array.isArray(doc.endpoints) ? (doc.endpoints as Record<string, unknown>[]) : [];
  let requests = 0;
  let errors = 0;
  let data: WarrenEndpointData | undefined;
  for (const endpoint of endpoints) {
    if (typeof endpoint !== 'object' || endpoint === null) continue;
    if (typeof endpoint.num_requests === 'number') requests += endpoint.num_requests;
    if (typeof endpoint.num_errors === 'number') errors += endpoint.num_errors;
    if (isWarrenData(endpoint.data)) data = endpoint.data;
  }
  return {
    service: doc.name,
    id: doc.id,
    version: typeof doc.version === 'string' ? doc.version : '',
    warren: data !== undefined,
    instance: data?.instance ?? null,
    host: data?.host ?? null,
    pid: data?.pid ?? null,
    started: typeof doc.started === 'string' ? doc.started : null,
    requests,
    errors,
    inFlight: data?.inFlight ?? null,
    draining: data?.draining ?? false,
    rssBytes: data?.rssBytes ?? null,
    metrics: data?.metrics ?? null,
  };
}

function isWarrenData(value: unknown): value is WarrenEndpointData {
  if (typeof value !== 'object' || value === null) return false;
  const data = value as Record<string, unknown>;
  return (
    typeof data.instance === 'number' &&
    typeof data.host === 'string' &&
    typeof data.pid === 'number' &&
    typeof data.inFlight === 'number' &&
    typeof data.metrics === 'object' &&
    data.metrics !== null
  );
}
