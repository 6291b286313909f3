/**
 * Method names repeat on every request, so both directions are cached: encoding reuses the
 * UTF-8 bytes of a name, decoding returns the same string instance for the same bytes (which
 * also keeps its hash cached for the handler lookup that follows). Bounded: a peer that sends
 * endless distinct names only gets the cache cleared.
 */
const MAX_ENTRIES = 256;

export class MethodNames {
  private readonly bytesByName = new Map<string, Buffer>();
  // Decoding: names bucketed by byte length, compared byte by byte.
  private readonly namesByLength = new Map<number, { bytes: Buffer; name: string }[]>();
  private decodedCount = 0;

  /** UTF-8 bytes of `name`; do not modify them. */
  encode(name: string): Buffer {
    let bytes = this.bytesByName.get(name);
    if (bytes === undefined) {
      if (this.bytesByName.size >= MAX_ENTRIES) this.bytesByName.clear();
      bytes = Buffer.from(name, 'utf8');
      this.bytesByName.set(name, bytes);
    }
    return bytes;
  }

  decode(buf: Buffer, start: number, end: number): string {
    const length = end - start;
    let bucket = this.namesByLength.get(length);
    if (bucket !== undefined) {
      for (const entry of bucket) {
        const bytes = entry.bytes;
        let i = 0;
        while (i < length && bytes[i] === buf[start + i]) i++;
        if (i === length) return entry.name;
      }
    }
    const name = buf.toString('utf8', start, end);
    if (this.decodedCount >= MAX_ENTRIES) {
      this.namesByLength.clear();
      this.decodedCount = 0;
      bucket = undefined;
    }
    if (bucket === undefined) {
      bucket = [];
      this.namesByLength.set(length, bucket);
    }
    bucket.push({ bytes: Buffer.from(buf.subarray(start, end)), name });
    this.decodedCount++;
    return name;
  }
}
