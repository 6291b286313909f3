#!/usr/bin/env node
/**
 * The `warren` command: the protocol tools (`decode`), `call`, `up` (the supervisor) and the
 * commands that drive a running supervisor (`status`, `stop`, `start`, `scale`, `restart`, `reload`, `logs`,
 * `token rotate`).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Argument, Command, CommanderError, Option } from 'commander';
import { callCommand } from './call.js';
import { decodeFramesCommand } from './decode.js';
import { positiveMs, wholeNumber } from './options.js';
import { scaleCommand, startCommand } from './service-commands.js';
import {
  logsCommand,
  reloadCommand,
  restartCommand,
  type SupervisorCommandIo,
  statusCommand,
  stopCommand,
  tokenRotateCommand,
} from './supervisor-commands.js';
import { upCommand } from './up.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('warren')
  .description('Processes that talk over Unix domain sockets')
  .version(pkg.version, '-v, --version')
  // Once for every command, before or after the command's name (`warren --socket-dir D status`
  // and `warren status --socket-dir D` both work).
  .option(
    '--socket-dir <dir>',
    'socket directory (default: WARREN_SOCKET_DIR, else $XDG_RUNTIME_DIR/warren; for up it overrides the config)',
  )
  // Each command's help lists it too.
  .configureHelp({ showGlobalOptions: true });

/** The program-level `--socket-dir`, wherever it was given. */
function socketDirOption(): { socketDir?: string } {
  const { socketDir } = program.opts<{ socketDir?: string }>();
  return socketDir === undefined ? {} : { socketDir };
}

program
  .command('decode')
  .description('decode Warren frames from hex (argument or stdin) and print them as JSON lines')
  .argument('[hex]', 'frame bytes as hex; read from stdin when omitted')
  .option('--lenient', "skip bytes that are not frames and print them as junk, as on a child's stdout")
  .action((hex: string | undefined, options: { lenient?: boolean }) => {
    const input = hex ?? readFileSync(0, 'utf8');
    process.exitCode = decodeFramesCommand(input, options.lenient ?? false, (line) => process.stdout.write(`${line}\n`));
  });

program
  .command('call')
  .description('call a service by name and print its response; exit code 1 on a 4xx/5xx status, 2 on a usage or transport error')
  .argument('<service>', 'service name, e.g. users')
  .argument('<method>', 'GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS (any case)')
  .argument('<path>', 'path with an optional query string, e.g. /users/42?fields=name')
  .option('--data <json>', 'request body as JSON')
  .option('--timeout <ms>', 'give up after this many ms (default 30000)', positiveMs('--timeout'))
  .option('--json', 'print {"status","headers","body"} as one JSON line')
  // Usage errors exit with 2, as the other failures that are not a status from the service.
  .exitOverride()
  .action(async (service: string, method: string, path: string, options: { data?: string; timeout?: number; json?: boolean }) => {
    process.exitCode = await callCommand(
      service,
      method,
      path,
      { ...options, ...socketDirOption() },
      {
        out: (text) => process.stdout.write(text),
        err: (text) => process.stderr.write(text),
      },
    );
  });

// ---- commands that drive a running supervisor (supervisor-commands.ts) -------------------

/**
 * The io of a supervisor command. With `interruptible`, the first Ctrl-C (SIGINT) or a closed
 * stdout (EPIPE, e.g. `| head`) aborts `signal` and the command ends cleanly with exit code 0;
 * a second Ctrl-C kills as usual.
 */
function supervisorIo(interruptible = false): SupervisorCommandIo {
  const io: SupervisorCommandIo = {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    isTTY: process.stdout.isTTY === true,
  };
  if (interruptible) {
    const controller = new AbortController();
    process.once('SIGINT', () => controller.abort());
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      controller.abort();
    });
    io.signal = controller.signal;
  }
  return io;
}

program
  .command('up')
  .description(
    'start every service of a configuration, each instance its own process, and keep them running (Ctrl-C stops, SIGHUP reloads)',
  )
  .argument('[config]', 'config file or the directory that holds it (default: warren.config.{json,mjs,js,ts} in the current directory)')
  .option('-d, --detach', 'run the supervisor in the background; return once every instance is online or errored')
  .addOption(new Option('--detached', 'internal: this process is the background supervisor started by --detach').hideHelp())
  .exitOverride()
  .action(async (config: string | undefined, options: { detach?: boolean; detached?: boolean }) => {
    // Through the environment, so a --detach child and the instances inherit it.
    const { socketDir } = socketDirOption();
    if (socketDir !== undefined) process.env.WARREN_SOCKET_DIR = resolve(socketDir);
    process.exitCode = await upCommand(
      config,
      { detach: options.detach === true, detached: options.detached === true },
      { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text), version: pkg.version },
    );
  });

program
  .command('init')
  .description('write a starter project (warren.config.json and a service) that runs under warren up; overwrites nothing')
  .argument('[dir]', 'directory to write into, created if missing (default: the current directory)')
  .exitOverride()
  .action(async (dir: string | undefined) => {
    // Loaded only for this command: the others do not pay for it.
    const { initCommand } = await import('./init.js');
    process.exitCode = initCommand(dir, { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) });
  });

program
  .command('status')
  .description('show every instance of every service of the running supervisor; exit code 2 when none runs')
  .option('--json', 'print the status as JSON (indented on a terminal, one line otherwise; one document per refresh with --watch)')
  .option('-w, --watch', 'refresh until Ctrl-C: redrawn in place on a terminal, else tables one after another')
  .option('--interval <ms>', 'refresh interval of --watch (default 1000)', wholeNumber('--interval', 10))
  .exitOverride()
  .action(async (options: { json?: boolean; watch?: boolean; interval?: number }) => {
    process.exitCode = await statusCommand({ ...options, ...socketDirOption() }, supervisorIo(options.watch === true));
  });

program
  .command('stop')
  .description(
    'stop the running supervisor (its instances drain first) and wait until it is gone; with a service, stop only its instances (nothing running: exit code 0)',
  )
  .argument('[service]', 'service name: stop only its instances, the supervisor goes on (`warren start <service>` starts them again)')
  .option('--timeout <ms>', 'exit code 1 if it is still there after this many ms (default 30000)', wholeNumber('--timeout', 1))
  .exitOverride()
  .action(async (service: string | undefined, options: { timeout?: number }) => {
    const target = service === undefined ? {} : { service };
    process.exitCode = await stopCommand({ ...options, ...target, ...socketDirOption() }, supervisorIo());
  });

program
  .command('start')
  .description("start a service's stopped (or errored) instances again in the running supervisor; wait until each is online or errored")
  .argument('<service>', 'service name')
  .option('--timeout <ms>', 'give up waiting after this many ms (default: as long as it takes)', wholeNumber('--timeout', 1))
  .exitOverride()
  .action(async (service: string, options: { timeout?: number }) => {
    process.exitCode = await startCommand(service, { ...options, ...socketDirOption() }, supervisorIo());
  });

program
  .command('scale')
  .description(
    "run this many instances of a service until the next reload (the config file is not changed; a reload applies the file's count)",
  )
  .argument('<service>', 'service name')
  .addArgument(new Argument('<instances>', 'number of instances, 1 to 256').argParser(wholeNumber('instances', 1)))
  .option('--timeout <ms>', 'give up waiting after this many ms (default: as long as it takes)', wholeNumber('--timeout', 1))
  .exitOverride()
  .action(async (service: string, instances: number, options: { timeout?: number }) => {
    process.exitCode = await scaleCommand(service, instances, { ...options, ...socketDirOption() }, supervisorIo());
  });

program
  .command('restart')
  .description('stop and start every instance of a service again (errored ones too); not zero-downtime, see reload')
  .argument('<service>', 'service name')
  .option('--timeout <ms>', 'give up waiting after this many ms (default: as long as it takes)', wholeNumber('--timeout', 1))
  .exitOverride()
  .action(async (service: string, options: { timeout?: number }) => {
    process.exitCode = await restartCommand(service, { ...options, ...socketDirOption() }, supervisorIo());
  });

program
  .command('reload')
  .description(
    'read the config file again and apply it (services added and removed, instances scaled, changed settings by a rolling replace; unchanged: every instance replaced), for one service or all',
  )
  .argument('[service]', 'service name (default: every service)')
  .option('--timeout <ms>', 'give up waiting after this many ms (default: as long as it takes)', wholeNumber('--timeout', 1))
  .exitOverride()
  .action(async (service: string | undefined, options: { timeout?: number }) => {
    process.exitCode = await reloadCommand(service, { ...options, ...socketDirOption() }, supervisorIo());
  });

program
  .command('logs')
  .description("print the supervisor's recent log lines of one service or all, and with -f new ones until Ctrl-C")
  .argument('[service]', 'service name, or supervisor for its own lines (default: every service)')
  .option('-f, --follow', 'keep printing new lines until Ctrl-C (exit code 1 if the supervisor goes)')
  .option('-n, --lines <n>', 'recent lines first (default 100)', wholeNumber('--lines', 0))
  .exitOverride()
  .action(async (service: string | undefined, options: { follow?: boolean; lines?: number }) => {
    process.exitCode = await logsCommand(service, { ...options, ...socketDirOption() }, supervisorIo(options.follow === true));
  });

program
  .command('token')
  .description("manage the socket directory's token")
  .exitOverride()
  .command('rotate')
  .description('write a new token; the previous one is accepted for --grace ms (through the supervisor when one runs)')
  .option('--grace <ms>', 'how long the previous token is still accepted (default 60000)', wholeNumber('--grace', 0))
  .exitOverride()
  .action(async (options: { grace?: number }) => {
    process.exitCode = await tokenRotateCommand({ ...options, ...socketDirOption() }, supervisorIo());
  });

program.parseAsync().catch((error: unknown) => {
  if (error instanceof CommanderError) {
    // Commander has printed the message already.
    process.exitCode = error.exitCode === 0 ? 0 : 2;
    return;
  }
  process.stderr.write(`warren: ${(error as Error).message}\n`);
  process.exitCode = 1;
});
