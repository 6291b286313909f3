/**
 * What a process of a service with `port` is told, in its environment, about the port the
 * supervisor holds for it (docs/config.md, "Sharing a port"). Shared by the supervisor, which
 * spawns the processes, and the preload module that runs inside them.
 */

/** The port number, as any Node app reads it (`listen(process.env.PORT)`). */
export const PORT_ENV = 'PORT';
/** The descriptor number, in the process, of the listening socket every instance shares. */
export const LISTEN_FD_ENV = 'WARREN_LISTEN_FD';
/** The descriptor on which the preload says that the app's listen succeeded (only with `ready: 'listen'`). */
export const READY_FD_ENV = 'WARREN_READY_FD';
/** How long the preload lets requests in flight finish after SIGTERM before it exits anyway (ms). */
export const DRAIN_TIMEOUT_ENV = 'WARREN_DRAIN_TIMEOUT_MS';

/** stdio index of the ready pipe: after stdin, stdout, stderr; the IPC channel takes it for a Warren service. */
export const READY_FD = 3;
/** stdio index of the shared listening socket. */
export const LISTEN_FD = 4;

/** The line the preload writes on the ready pipe once the app listens on the shared port. */
export const LISTENING_LINE = 'listening\n';
