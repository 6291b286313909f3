/**
 * warren/realtime/nats: the hub's Broadcaster on NATS, and the broadcaster other processes use to
 * publish through it (a subpath of its own, so that the NATS client loads only where it is used).
 */
export type { NatsOptions } from '../../service/nats/options.js';
export type { NatsBroadcasterEvents, NatsBroadcasterOptions } from './broadcaster.js';
export { NatsBroadcaster } from './broadcaster.js';
export type { NatsBroadcasterClientOptions } from './client.js';
export { createNatsBroadcaster, NatsBroadcasterClient } from './client.js';
export { DEFAULT_NATS_PREFIX, decodeChannel, encodeChannel, subjectOf } from './subjects.js';
