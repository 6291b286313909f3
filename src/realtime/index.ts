/** warren/realtime: the WebSocket hub, its seams and the broadcaster other processes use. */
export * from '../errors.js';
export type { BroadcasterEvents, BroadcasterOptions, ChannelEmitter } from './broadcaster.js';
export { BroadcasterClient, createBroadcaster } from './broadcaster.js';
export { Connection } from './connection.js';
export type { Envelope } from './envelope.js';
export { packEnvelope, unpackEnvelope } from './envelope.js';
export type { Identity } from './handshake.js';
export type { AuthorizeRequest, Authorizer, BroadcastTarget, EventContext, EventHandler, HubStats } from './hub.js';
export { Hub, startHub } from './hub.js';
export type { EmitParams } from './hub-socket.js';
export { HUB_SOCKET, HubMethods, listenHubSocket } from './hub-socket.js';
export type { Authenticate, HubOptions, ResolvedHubOptions } from './options.js';
export {
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_WRITE_BUFFER_SIZE,
  DEFAULT_WS_PATH,
  resolveHubOptions,
} from './options.js';
export type { ChannelKind, FormatName, WireMessage } from './protocol.js';
export { CHANNEL_NAME_PATTERN, CloseCode, channelKind, SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK } from './protocol.js';
export type { Position, Recorded, RecoveryResult, RecoveryStore } from './recovery.js';
export { RecoveryLog } from './recovery.js';
export type { Broadcaster, PresenceMember, Registry } from './seams.js';
export { LocalBroadcaster, LocalRegistry } from './seams.js';
export { signChannel, signUserToken, verifyChannelToken, verifyUserToken } from './tokens.js';
