import { makeWarrenSystem } from './warren.js';

export const { server, client } = makeWarrenSystem('msgpack');
