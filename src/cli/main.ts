#!/usr/bin/env node
/**
 * The `warren` command. Later layers add `up`, `status`, `call` and friends; for now it
 * carries the protocol tools.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
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

program.parseAsync().catch((error: unknown) => {
  process.stderr.write(`warren: ${(error as Error).message}\n`);
  process.exitCode = 1;
});
