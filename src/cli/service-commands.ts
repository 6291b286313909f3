/**
 * `warren start <service>` and `warren scale <service> <n>`: one service of a running supervisor,
 * through its control socket. Exit codes and errors as the other supervisor commands
 * (supervisor-commands.ts); `stop <service>` is there, beside `stop`.
 */
import { answerError, json, type ReplaceCommandOptions, type SupervisorCommandIo, withControl } from './supervisor-commands.js';

/** `warren start <service>`: starts the service's stopped or errored instances and waits until each is online or errored. */
export function startCommand(service: string, options: ReplaceCommandOptions, io: SupervisorCommandIo): Promise<number> {
  const { timeout } = options;
  return withControl('start', options, io, async (client) => {
    let started: number;
    try {
      ({ started } = await client.startService(service, timeout === undefined ? {} : { timeout }));
    } catch (error) {
      return answerError(io, 'start', client, error);
    }
    if (started === 0) {
      if (options.json) json(io, { service, started: 0, online: null, instances: null });
      else io.out(`${service} is already running (no stopped or errored instance); \`warren restart ${service}\` restarts it\n`);
      return 0;
    }
    const after = await client.status().catch(() => undefined);
    const instances = after?.services.find((s) => s.name === service)?.instances ?? [];
    const online = instances.filter((i) => i.state === 'online').length;
    if (options.json) json(io, { service, started, online, instances: instances.length });
    else io.out(`started ${service}: ${started} instance${started === 1 ? '' : 's'}; ${online} of ${instances.length} online\n`);
    return online === instances.length ? 0 : 1;
  });
}

/** `warren scale <service> <n>`: that many instances until the next reload, which applies the config file's count again. */
export function scaleCommand(service: string, instances: number, options: ReplaceCommandOptions, io: SupervisorCommandIo): Promise<number> {
  const { timeout } = options;
  return withControl('scale', options, io, async (client) => {
    try {
      const result = await client.scale(service, instances, timeout === undefined ? {} : { timeout });
      const how = result.from === result.to ? 'unchanged' : result.stopped ? 'kept for when it is started (it is stopped)' : 'done';
      if (options.json) {
        json(io, result);
        return 0;
      }
      io.out(
        `scaled ${service}: instances ${result.from} → ${result.to} (${how}); until the next reload, which applies the config file's count\n`,
      );
      return 0;
    } catch (error) {
      return answerError(io, 'scale', client, error);
    }
  });
}
