/**
 * The NATS service API (ADR-32, "micro" v1) for one Warren instance: it answers `$SRV.PING`,
 * `$SRV.INFO` and `$SRV.STATS`, alone or followed by the service name, or by the name and the
 * instance's id, with the JSON documents of io.nats.micro.v1, so `nats micro ls`, `nats micro
 * stats` and `warren status --cluster` see every Warren instance on every host. Stats come from
 * the instance's RouteMetrics; the full snapshot rides along in the endpoint's `data`.
 *
 * Written here rather than with @nats-io/services: its only release is a pre-release
 * (3.0.0-25) pinned to a pre-release of nats-core, and it would run its own handlers and
 * counters beside Warren's dispatcher and metrics instead of reporting them.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { MetricsSnapshot } from '../metrics.js';
import { callSubject, queueGroup } from './subjects.js';

export const MICRO_TYPES = {
  ping: 'io.nats.micro.v1.ping_response',
  info: 'io.nats.micro.v1.info_response',
  stats: 'io.nats.micro.v1.stats_response',
} as const;

/** What the service API reports of an instance, read when asked. */
export interface DescribedInstance {
  readonly name: string;
  readonly instance: number;
  readonly metrics: { snapshot(): MetricsSnapshot };
  readonly inFlight: number;
  readonly isDraining: boolean;
}

/** The `data` of the call endpoint in a stats reply: what `warren status --cluster` shows. */
export interface WarrenEndpointData {
  instance: number;
  host: string;
  pid: number;
  inFlight: number;
  draining: boolean;
  rssBytes: number;
  metrics: MetricsSnapshot;
}

const WARREN_VERSION = readVersion();

export class ServiceApi {
  private readonly subscriptions: Subscription[] = [];
  private readonly started = new Date().toISOString();
  private readonly host = hostname();

  constructor(
    private readonly instance: DescribedInstance,
    /** This instance's id on NATS (a nuid): unique, so `$SRV.*.<name>.<id>` reaches it alone. */
    readonly id: string,
  ) {}

  /** Subscribes on `connection` (again after each reconnect the client restores them itself). */
  subscribe(connection: NatsConnection): void {
    const { name } = this.instance;
    for (const subject of ['$SRV.*', `$SRV.*.${name}`, `$SRV.*.${name}.${this.id}`]) {
      this.subscriptions.push(
        connection.subscribe(subject, {
          callback: (error, msg) => {
            if (error === null) this.answer(msg);
          },
        }),
      );
    }
  }

  unsubscribe(): void {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
  }

  private answer(msg: Msg): void {
    // $SRV.<VERB>[.<name>[.<id>]]: the verb is the second token.
    const verb = msg.subject.split('.', 3)[1];
    const document = verb === 'PING' ? this.ping() : verb === 'INFO' ? this.info() : verb === 'STATS' ? this.stats() : undefined;
    if (document === undefined || msg.reply === undefined || msg.reply === '') return;
    msg.respond(JSON.stringify(document));
  }

  private identity(type: string) {
    return {
      type,
      name: this.instance.name,
      id: this.id,
      version: WARREN_VERSION,
      metadata: {
        'warren.instance': String(this.instance.instance),
        'warren.host': this.host,
        'warren.pid': String(process.pid),
      },
    };
  }

  ping() {
    return this.identity(MICRO_TYPES.ping);
  }

  info() {
    const { name } = this.instance;
    return {
      ...this.identity(MICRO_TYPES.info),
      description: `Warren service ${name}: calls as [method, url, body?, headers?, requestId?] in MessagePack`,
      endpoints: [{ name: 'call', subject: callSubject(name), queue_group: queueGroup(name), metadata: null }],
    };
  }

  stats() {
    const { name } = this.instance;
    const metrics = this.instance.metrics.snapshot();
    const service = metrics.service;
    const data: WarrenEndpointData = {
      instance: this.instance.instance,
      host: this.host,
      pid: process.pid,
      inFlight: this.instance.inFlight,
      draining: this.instance.isDraining,
      rssBytes: process.memoryUsage.rss(),
      metrics,
    };
    return {
      ...this.identity(MICRO_TYPES.stats),
      started: this.started,
      endpoints: [
        {
          name: 'call',
          subject: callSubject(name),
          queue_group: queueGroup(name),
          num_requests: service.requests,
          num_errors: service.errors,
          last_error: '',
          // Nanoseconds, as the schema says.
          processing_time: Math.round(service.meanMs * service.requests * 1e6),
          average_processing_time: Math.round(service.meanMs * 1e6),
          data,
        },
      ],
    };
  }
}

/** Warren's own version (a service definition has none): from the package.json two or three folders up. */
function readVersion(): string {
  for (const relative of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'warren' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // Not there from this file's folder: try the next.
    }
  }
  return '0.0.0';
}
