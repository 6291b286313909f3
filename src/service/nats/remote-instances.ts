/**
 * What a process learns of the instances on other hosts, through NATS itself: who is there
 * (`$SRV.PING`, the NATS service API, answered by every instance on every host) and what routes an
 * instance serves (§15.7, its own subject, with Warren's token). The gateway builds its route table
 * for services that live only on other hosts from these two.
 */
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { WarrenError } from '../../errors.js';
import { msgpackCodec } from '../../wire/msgpack.js';
import { decodeReply } from '../call-format.js';
import type { PublishedRoute } from '../published-routes.js';
import { routesSubject } from './subjects.js';
import type { RemoteInstance } from './types.js';

export type { RemoteInstance } from './types.js';

/** Every instance that answers `$SRV.PING` within `waitMs`; none when nobody subscribes. */
export async function pingInstances(connection: NatsConnection, waitMs: number): Promise<RemoteInstance[]> {
  const found: RemoteInstance[] = [];
  try {
    const replies = await connection.requestMany('$SRV.PING', '', { maxWait: waitMs });
    for await (const msg of replies) {
      const instance = parsePing(msg.data);
      if (instance !== undefined) found.push(instance);
    }
  } catch (error) {
    // Nobody subscribes to $SRV at all: NATS says so at once.
    if (!/no responders/i.test(String((error as Error)?.message ?? error))) throw error;
  }
  return found;
}

function parsePing(data: Uint8Array): RemoteInstance | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null) return undefined;
  const { type, name, id, metadata } = doc as Record<string, unknown>;
  if (type !== 'io.nats.micro.v1.ping_response' || typeof name !== 'string' || typeof id !== 'string') return undefined;
  // Only names and ids that make valid subject tokens are asked anything.
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(name) || !/^[A-Za-z0-9]{1,64}$/.test(id)) return undefined;
  const meta = typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>) : {};
  const host = typeof meta['warren.host'] === 'string' ? meta['warren.host'] : '';
  return { service: name, id, host, warren: typeof meta['warren.instance'] === 'string' };
}

/** Asks one instance for its routes (§15.7); fails with the instance's error, or the NATS client's. */
export async function requestRoutes(
  connection: NatsConnection,
  instance: { service: string; id: string },
  headers: MsgHdrs,
  timeoutMs: number,
): Promise<PublishedRoute[]> {
  const msg = await connection.request(routesSubject(instance.service, instance.id), new Uint8Array(0), { timeout: timeoutMs, headers });
  const answer = decodeReply(msgpackCodec.decode(Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength)));
  if (answer.status !== 200 || !Array.isArray(answer.body)) {
    const error = (answer.body as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new WarrenError(
      error?.code ?? 'WARREN_PROTOCOL',
      `the routes of ${instance.service} (${instance.id}) could not be had: ${error?.message ?? `status ${answer.status}`}`,
    );
  }
  return answer.body as PublishedRoute[];
}
