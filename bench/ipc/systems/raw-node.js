// raw-node: the fair, fast limit. node:net, one frame per message:
//   u32be length (of what follows) | u32be request id | utf8 payload
// Both sides decode the payload to a string (as every other system hands the handler and
// the caller a string) and batch all frames written during one tick into ONE socket write.
// The decoder parses complete frames in place from each chunk and copies only a frame that
// straddles chunks, into a buffer allocated once at its final size (no quadratic concat).

import net from 'node:net';

const MAX_FRAME = 64 * 1024 * 1024;

/** Collects frames during one tick and writes them with a single socket.write. */
class BatchWriter {
  constructor(socket) {
    this.socket = socket;
    this.ids = [];
    this.strs = [];
    this.lens = [];
    this.bytes = 0;
    this.scheduled = false;
    this.flush = this.flush.bind(this);
  }

  push(id, str) {
    const len = Buffer.byteLength(str, 'utf8');
    this.ids.push(id);
    this.strs.push(str);
    this.lens.push(len);
    this.bytes += 8 + len;
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flush);
    }
  }

  flush() {
    this.scheduled = false;
    const { ids, strs, lens } = this;
    const n = ids.length;
    if (n === 0) return;
    const buf = Buffer.allocUnsafe(this.bytes);
    let o = 0;
    for (let i = 0; i < n; i++) {
      const len = lens[i];
      buf.writeUInt32BE(len + 4, o);
      buf.writeUInt32BE(ids[i], o + 4);
      buf.write(strs[i], o + 8, len, 'utf8');
      o += 8 + len;
    }
    this.ids = [];
    this.strs = [];
    this.lens = [];
    this.bytes = 0;
    if (!this.socket.destroyed) this.socket.write(buf);
  }
}

/** Streaming decoder; calls onFrame(id, payloadString) for each complete frame. */
function makeDecoder(onFrame, onError) {
  const hdr = Buffer.allocUnsafe(4);
  let hdrHave = 0; // bytes of a split length prefix held in hdr
  let body = null; // frame body (id + payload) being filled across chunks
  let bodyLen = 0;
  let bodyHave = 0;

  const emit = (buf, start, len) => {
    onFrame(buf.readUInt32BE(start), buf.toString('utf8', start + 4, start + len));
  };
  const startBody = (len) => {
    if (len < 4 || len > MAX_FRAME) throw new Error(`bad frame length ${len}`);
    bodyLen = len;
    bodyHave = 0;
    body = Buffer.allocUnsafe(len);
  };

  return function onData(chunk) {
    try {
      const n = chunk.length;
      let off = 0;
      if (hdrHave > 0 || body !== null) {
        if (body === null) {
          const take = Math.min(4 - hdrHave, n);
          chunk.copy(hdr, hdrHave, 0, take);
          hdrHave += take;
          off = take;
          if (hdrHave < 4) return;
          hdrHave = 0;
          startBody(hdr.readUInt32BE(0));
        }
        const take = Math.min(bodyLen - bodyHave, n - off);
        chunk.copy(body, bodyHave, off, off + take);
        bodyHave += take;
        off += take;
        if (bodyHave < bodyLen) return;
        const b = body;
        body = null;
        emit(b, 0, bodyLen);
      }
      while (n - off >= 4) {
        const len = chunk.readUInt32BE(off);
        if (len < 4 || len > MAX_FRAME) throw new Error(`bad frame length ${len}`);
        if (n - off - 4 < len) break;
        emit(chunk, off + 4, len);
        off += 4 + len;
      }
      const rem = n - off;
      if (rem > 0) {
        if (rem < 4) {
          chunk.copy(hdr, 0, off, n);
          hdrHave = rem;
        } else {
          startBody(chunk.readUInt32BE(off));
          chunk.copy(body, 0, off + 4, n);
          bodyHave = rem - 4;
        }
      }
    } catch (err) {
      onError(err);
    }
  };
}

export async function server(path, _payloadInfo) {
  const sockets = new Set();
  const srv = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const writer = new BatchWriter(socket);
    const handler = (params) => params; // 'echo'
    socket.on(
      'data',
      makeDecoder(
        (id, str) => writer.push(id, handler(str)),
        (err) => socket.destroy(err),
      ),
    );
  });
  await new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(path, resolve);
  });
  return () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      srv.close(() => resolve());
    });
}

export async function client(path) {
  const socket = net.connect(path);
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const pending = new Map(); // id -> { resolve, reject }
  let nextId = 0;
  const writer = new BatchWriter(socket);
  const failAll = (err) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  socket.on(
    'data',
    makeDecoder(
      (id, str) => {
        const p = pending.get(id);
        if (p === undefined) return;
        pending.delete(id);
        p.resolve(str);
      },
      (err) => {
        failAll(err);
        socket.destroy();
      },
    ),
  );
  socket.on('error', (err) => failAll(err));
  socket.on('close', () => failAll(new Error('raw-node: connection closed')));

  return {
    call(payload) {
      const id = nextId;
      nextId = (nextId + 1) >>> 0;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        writer.push(id, payload);
      });
    },
    close() {
      return new Promise((resolve) => {
        if (socket.destroyed) return resolve();
        socket.once('close', () => resolve());
        socket.end();
        setTimeout(() => socket.destroy(), 1000).unref();
      });
    },
  };
}
