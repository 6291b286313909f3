/**
 * The names Warren uses on NATS; docs/protocol.md ("Service calls over NATS") is their spec.
 * A service name is `[a-z0-9_-]+` (define.ts), so it is one valid subject token as it is.
 */

/** Calls to `service`: every instance subscribes in the queue group `service`, so NATS gives each call to one. */
export function callSubject(service: string): string {
  return `warren.svc.${service}.call`;
}

/**
 * Several calls to `service` in one message (docs/protocol.md §15.6), in the same queue group:
 * calls a client makes in one turn of its event loop travel together.
 */
export function batchSubject(service: string): string {
  return `warren.svc.${service}.batch`;
}

/** The most calls one batch may hold. */
export const MAX_BATCH = 1024;

/**
 * A caller gave up a call (its signal aborted, or its deadline passed): the payload is the call's
 * reply subject, its id. Every instance listens; the one running that call stops it.
 */
export function cancelSubject(service: string): string {
  return `warren.svc.${service}.cancel`;
}

/**
 * One instance's routes (docs/protocol.md §15.7): each instance answers on its own subject, named by
 * its id on NATS (`$SRV` PING gives it), so a gateway on another host learns every new instance's
 * routes, a reload's new ones included.
 */
export function routesSubject(service: string, id: string): string {
  return `warren.svc.${service}.routes.${id}`;
}

/** The queue group of a service's instances. */
export function queueGroup(service: string): string {
  return service;
}

/** Headers of a call. */
export const HEADER = {
  /** Warren's token (`.auth_token`), the same on every host; absent: public routes only. */
  token: 'Warren-Token',
  /** The caller's name, for the service's logs (auth.client). */
  client: 'Warren-Client',
} as const;
