#!/usr/bin/env node
/**
 * The `warren` command. Later layers add `up`, `status`, `call` and friends; for now it
 * carries the protocol tools.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { callCommand } from './call.js';
import { decodeFramesCommand } from './decode.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('warren').description('Processes that talk over Unix domain sockets').version(pkg.version, '-v, --version');

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
  .option('--timeout <ms>', 'give up after this many ms (default 30000)')
  .option('--json', 'print {"status","headers","body"} as one JSON line')
  .option('--socket-dir <dir>', 'socket directory (default: WARREN_SOCKET_DIR, else $XDG_RUNTIME_DIR/warren)')
  // Usage errors exit with 2, as the other failures that are not a status from the service.
  .exitOverride()
  .action(
    async (
      service: string,
      method: string,
      path: string,
      options: { data?: string; timeout?: string; json?: boolean; socketDir?: string },
    ) => {
      process.exitCode = await callCommand(service, method, path, options, {
        out: (text) => process.stdout.write(text),
        err: (text) => process.stderr.write(text),
      });
    },
  );

program.parseAsync().catch((error: unknown) => {
  if (error instanceof CommanderError) {
    // Commander has printed the message already.
    process.exitCode = error.exitCode === 0 ? 0 : 2;
    return;
  }
  process.stderr.write(`warren: ${(error as Error).message}\n`);
  process.exitCode = 1;
});
