import type { MessageSink } from '../../src/wire/framing.js';

/** One recorded sink call: its kind, then its arguments. */
export type Call = [string, ...unknown[]];

/** A MessageSink that records every call in order (junk bytes copied, as the chunk they come from may be reused). */
export function recordingSink(calls: unknown[][]): MessageSink {
  return {
    receiveRequest: (id, method, params, codec) => calls.push(['request', id, method, params, codec]),
    receiveNotify: (method, params) => calls.push(['notify', method, params]),
    onResponse: (id, result, stream) => calls.push(['response', id, result, stream]),
    onError: (id, error) => calls.push(['error', id, error]),
    onCancel: (id) => calls.push(['cancel', id]),
    onProgress: (id, value) => calls.push(['progress', id, value]),
    onStreamItem: (id, value) => calls.push(['streamItem', id, value]),
    onStreamEnd: (id) => calls.push(['streamEnd', id]),
    onCredit: (id, credit) => calls.push(['credit', id, credit]),
    onBadCredit: (id, error) => calls.push(['badCredit', id, error]),
    onBadRequest: (id, error) => calls.push(['badRequest', id, error]),
    onJunk: (bytes) => calls.push(['junk', Buffer.from(bytes)]),
    onFatal: (error) => calls.push(['fatal', error]),
  };
}
