// Payloads shared by every system: plain ASCII strings (so byte length == string length,
// no escaping in JSON, no node-ipc delimiter '\f'), built flat (not as cons strings).

export const PAYLOAD_SIZES = { '64B': 64, '4KiB': 4096 };

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export function makePayload(name) {
  const size = PAYLOAD_SIZES[name];
  if (size === undefined) throw new Error(`unknown payload ${name} (known: ${Object.keys(PAYLOAD_SIZES).join(', ')})`);
  const buf = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) buf[i] = ALPHABET.charCodeAt(i % ALPHABET.length);
  return buf.toString('latin1');
}
