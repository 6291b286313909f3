/**
 * Follows every service in the socket directory and keeps the gateway's route table current: each
 * instance that appears is asked for its routes (`warren.routes`), and the table is rebuilt from
 * the union of the routes of each service's instances whenever one comes, goes or answers. A
 * reload that adds a route is served as soon as its first new instance answers; a service whose
 * instances are all gone keeps its last routes, so its requests get 503 (no instance) rather than 404.
 *
 * With the nats transport it also follows the instances on other hosts: every REMOTE_POLL_MS it
 * asks NATS who is there (`$SRV.PING`) and asks each new instance for its routes (protocol §15.7),
 * so a service that lives only on another host is routed too (its calls then go over NATS).
 */
import type { ServiceClient } from '../service/client.js';
import { type Instance, type InstanceWatcher, watchServices } from '../service/discovery.js';
import { buildRouteTable, type RouteTable } from './route-table.js';
import type { PublishedRoute } from './route-types.js';

/** Asking a new instance for its routes is tried this many times (it may still be starting). */
const FETCH_ATTEMPTS = 8;
const FETCH_RETRY_FIRST_MS = 50;
/** How often the instances on other hosts are looked for, and how long their answers are awaited. */
export const REMOTE_POLL_MS = 2_000;
const REMOTE_WAIT_MS = 250;

export interface RouteFollowerEvents {
  /** The table changed (routes added or removed). */
  onTable: (table: RouteTable) => void;
  /** A clash seen for the first time, or an instance whose routes could not be had. */
  onProblem: (message: string) => void;
}

interface Known {
  readonly instance: Instance;
  routes: readonly PublishedRoute[] | undefined;
}

export class RouteFollower {
  /** Resolves when the first scan is done and every instance it found answered (or failed). */
  readonly ready: Promise<void>;
  table: RouteTable;
  private readonly watcher: InstanceWatcher;
  private readonly instances = new Map<string, Known>();
  /** Each service's last routes, in the order the services were first seen (the first keeps a clashing route). */
  private readonly lastRoutes = new Map<string, readonly PublishedRoute[]>();
  private readonly reported = new Set<string>();
  private readonly pending = new Set<Promise<void>>();
  /** Instances on NATS (any host), by their id there, with their routes once had. */
  private readonly remote = new Map<string, { service: string; routes: readonly PublishedRoute[] | undefined }>();
  private remoteTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly client: ServiceClient,
    socketDir: string,
    private readonly prefixes: Readonly<Record<string, string>>,
    private readonly events: RouteFollowerEvents,
  ) {
    this.table = buildRouteTable(new Map(), prefixes);
    this.watcher = watchServices(socketDir, {
      pollInterval: 1_000,
      onAdd: (instance) => this.added(instance),
      onRemove: (instance) => this.removed(instance),
      onError: (error) => events.onProblem(error.message),
    });
    const local = this.watcher.ready.then(() => this.settled());
    if (client.nats === undefined) {
      this.ready = local;
      return;
    }
    this.ready = Promise.all([local, this.pollRemote()]).then(() => this.settled());
    this.remoteTimer = setInterval(() => void this.pollRemote(), REMOTE_POLL_MS);
    this.remoteTimer.unref();
  }

  private polling = false;

  /** Looks for instances on NATS; asks each new one for its routes and forgets those gone. */
  private async pollRemote(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      const found = await this.client.remoteInstances(REMOTE_WAIT_MS);
      if (this.closed) return;
      const seen = new Set<string>();
      for (const instance of found) {
        if (!instance.warren) continue;
        seen.add(instance.id);
        if (this.remote.has(instance.id)) continue;
        const known = { service: instance.service, routes: undefined as readonly PublishedRoute[] | undefined };
        this.remote.set(instance.id, known);
        const fetching = this.fetchRemote(instance.id, known, 0);
        this.pending.add(fetching);
        void fetching.finally(() => this.pending.delete(fetching));
      }
      let gone = false;
      for (const id of [...this.remote.keys()]) {
        if (seen.has(id)) continue;
        this.remote.delete(id);
        gone = true;
      }
      if (gone) this.rebuild();
    } catch (error) {
      this.events.onProblem(`the instances on other hosts could not be listed: ${(error as Error).message}`);
    } finally {
      this.polling = false;
    }
  }

  private async fetchRemote(
    id: string,
    known: { service: string; routes: readonly PublishedRoute[] | undefined },
    attempt: number,
  ): Promise<void> {
    try {
      known.routes = await this.client.remoteRoutes({ service: known.service, id });
    } catch (error) {
      if (this.closed || this.remote.get(id) !== known) return;
      if (attempt + 1 >= FETCH_ATTEMPTS) {
        this.events.onProblem(`the routes of ${known.service} (${id} on NATS) could not be had: ${(error as Error).message}`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, FETCH_RETRY_FIRST_MS * 2 ** attempt).unref());
      return this.fetchRemote(id, known, attempt + 1);
    }
    if (this.closed || this.remote.get(id) !== known) return;
    this.rebuild();
  }

  /** The services that have instances now, here or (with the nats transport) on other hosts. */
  services(): string[] {
    const local = [...this.instances.values()].map((known) => known.instance.service);
    return [...new Set([...local, ...[...this.remote.values()].map((known) => known.service)])];
  }

  /** Whether `service` has at least one instance listed, here or on another host. */
  hasInstance(service: string): boolean {
    for (const known of this.instances.values()) if (known.instance.service === service) return true;
    for (const known of this.remote.values()) if (known.service === service) return true;
    return false;
  }

  private async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private added(instance: Instance): void {
    const known: Known = { instance, routes: undefined };
    this.instances.set(instance.path, known);
    const fetching = this.fetch(known, 0);
    this.pending.add(fetching);
    void fetching.finally(() => this.pending.delete(fetching));
  }

  private removed(instance: Instance): void {
    this.instances.delete(instance.path);
    this.rebuild();
  }

  private async fetch(known: Known, attempt: number): Promise<void> {
    const { service, path } = known.instance;
    try {
      known.routes = await this.client.service(service).instanceRoutes(path);
    } catch (error) {
      if (this.closed || this.instances.get(path) !== known) return;
      if (attempt + 1 >= FETCH_ATTEMPTS) {
        this.events.onProblem(`the routes of ${service} (${path}) could not be had: ${(error as Error).message}`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, FETCH_RETRY_FIRST_MS * 2 ** attempt).unref());
      return this.fetch(known, attempt + 1);
    }
    if (this.closed || this.instances.get(path) !== known) return;
    this.rebuild();
  }

  /** The union of each service's instances' routes (a reload's old and new instances together). */
  private rebuild(): void {
    const union = new Map<string, Map<string, PublishedRoute>>();
    for (const known of this.instances.values()) {
      if (known.routes !== undefined) addRoutes(union, known.instance.service, known.routes);
    }
    for (const known of this.remote.values()) {
      if (known.routes !== undefined) addRoutes(union, known.service, known.routes);
    }
    // A service seen again keeps its place in lastRoutes (Map.set does not move a key).
    for (const [service, routes] of union) this.lastRoutes.set(service, [...routes.values()]);
    const table = buildRouteTable(this.lastRoutes, this.prefixes);
    for (const conflict of table.conflicts) {
      if (this.reported.has(conflict)) continue;
      this.reported.add(conflict);
      this.events.onProblem(conflict);
    }
    this.table = table;
    this.events.onTable(table);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.remoteTimer);
    this.watcher.close();
  }
}

function addRoutes(union: Map<string, Map<string, PublishedRoute>>, service: string, routes: readonly PublishedRoute[]): void {
  let into = union.get(service);
  if (into === undefined) {
    into = new Map();
    union.set(service, into);
  }
  for (const route of routes) into.set(`${route.method} ${route.path}`, route);
}
