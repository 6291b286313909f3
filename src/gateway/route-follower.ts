/**
 * Follows every service in the socket directory and keeps the gateway's route table current: each
 * instance that appears is asked for its routes (`warren.routes`), and the table is rebuilt from
 * the union of the routes of each service's instances whenever one comes, goes or answers. A
 * reload that adds a route is served as soon as its first new instance answers; a service whose
 * instances are all gone keeps its last routes, so its requests get 503 (no instance) rather than 404.
 */
import type { ServiceClient } from '../service/client.js';
import { type Instance, type InstanceWatcher, watchServices } from '../service/discovery.js';
import { buildRouteTable, type RouteTable } from './route-table.js';
import type { PublishedRoute } from './route-types.js';

/** Asking a new instance for its routes is tried this many times (it may still be starting). */
const FETCH_ATTEMPTS = 8;
const FETCH_RETRY_FIRST_MS = 50;

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
    this.ready = this.watcher.ready.then(() => this.settled());
  }

  /** The services that have instances now. */
  services(): string[] {
    return [...new Set([...this.instances.values()].map((known) => known.instance.service))];
  }

  /** Whether `service` has at least one instance listed. */
  hasInstance(service: string): boolean {
    for (const known of this.instances.values()) if (known.instance.service === service) return true;
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
      if (known.routes === undefined) continue;
      let routes = union.get(known.instance.service);
      if (routes === undefined) {
        routes = new Map();
        union.set(known.instance.service, routes);
      }
      for (const route of known.routes) routes.set(`${route.method} ${route.path}`, route);
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
    this.watcher.close();
  }
}
