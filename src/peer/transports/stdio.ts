/**
 * The child's side of a spawned peer: frames on stdin and stdout. Anything else the child
 * prints to stdout reaches the parent as `junk`, never as a corrupt frame; logs belong on
 * stderr.
 */
import { Peer, type PeerOptions } from '../peer.js';

export function stdioPeer(options: PeerOptions = {}): Peer {
  const peer = new Peer({ readable: process.stdin, writable: process.stdout }, { name: 'stdio', ...options });
  // When the parent goes away stdin ends: the peer closes and, with nothing else to do, so does the child.
  return peer;
}
