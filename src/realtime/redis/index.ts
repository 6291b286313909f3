/** warren/realtime/redis: the hub's seams on Redis (a subpath of its own, so that ioredis loads only where it is used). */
export type { RedisBroadcasterOptions } from './broadcaster.js';
export { RedisBroadcaster } from './broadcaster.js';
export type { RedisRecoveryOptions } from './recovery-store.js';
export { RedisRecoveryStore } from './recovery-store.js';
export type { RedisRegistryOptions } from './registry.js';
export { RedisRegistry } from './registry.js';
