/**
 * What ServiceClient holds for the nats transport: loads the NATS client (nats-caller.ts) on
 * its own, once, so a client that never goes beyond its host never loads it. The connection
 * starts at once, in the background, so the first remote call finds it made.
 */
import type { ServiceResponse } from '../define.js';
import type { PublishedRoute } from '../published-routes.js';
import type { NatsCaller } from './nats-caller.js';
import type { ResolvedNatsOptions } from './options.js';
import type { NatsCallerOptions, NatsCallOptions, RemoteInstance } from './types.js';

export class LazyNatsCaller {
  private caller: NatsCaller | undefined;
  private readonly loading: Promise<NatsCaller>;
  private closed = false;

  constructor(options: ResolvedNatsOptions, settings: NatsCallerOptions) {
    this.loading = import('./nats-caller.js').then((module) => {
      this.caller = new module.NatsCaller(options, settings);
      if (this.closed) void this.caller.close();
      return this.caller;
    });
  }

  call(service: string, call: unknown[], options?: NatsCallOptions): Promise<ServiceResponse> {
    if (this.caller !== undefined) return this.caller.call(service, call, options);
    return this.loading.then((caller) => caller.call(service, call, options));
  }

  instances(waitMs: number): Promise<RemoteInstance[]> {
    return this.loading.then((caller) => caller.instances(waitMs));
  }

  routesOf(instance: { service: string; id: string }, timeoutMs: number): Promise<PublishedRoute[]> {
    return this.loading.then((caller) => caller.routesOf(instance, timeoutMs));
  }

  close(): Promise<void> {
    this.closed = true;
    return this.caller?.close() ?? Promise.resolve();
  }
}
