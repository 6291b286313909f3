export { BinaryFraming, createBinaryFraming } from './binary.js';
export * from './codecs.js';
export type { FrameDecoderOptions, FrameHandler } from './decoder.js';
export { FrameDecoder } from './decoder.js';
export * from './framing.js';
export * from './header.js';
export { createJsonRpcFraming } from './jsonrpc.js';
