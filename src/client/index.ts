/** warren/client: the browser (and Node) client of the realtime hub. No Node imports: bundled for browsers by esbuild. */
export { isWarrenError, PeerClosedError, RemoteError, TimeoutError, WarrenError } from '../errors.js';
export type { ChannelState, ChannelToken, EmitOptions, PresenceMember, SubscribeAck, SubscribeOptions } from './channel.js';
export { Channel } from './channel.js';
export type { ClientState } from './client.js';
export { CLIENT_EVENTS, connect, WarrenClient } from './client.js';
export type { Listener } from './emitter.js';
export type { ClientFormat, ClientMessage } from './format.js';
export type { ConnectOptions, ReconnectOptions, ResolvedClientOptions } from './options.js';
export type { WebSocketConstructor, WebSocketLike } from './socket.js';
