/**
 * `warren init [dir]`: writes a starter project that runs under `warren up` as it is: a
 * warren.config.json (with `$schema`, so an editor completes and checks it) and one service file.
 *
 * Decisions:
 * - JSON config and a `.mjs` service: they run with Node alone, without tsx (an optional peer
 *   dependency) and whatever the project's package.json says about modules.
 * - Nothing is ever overwritten: if any file init would write exists, or any other
 *   warren.config.* (which would make `warren up` refuse to pick one), it writes nothing and says
 *   which file is in the way. Files are created with the `wx` flag, so a file that appears
 *   meanwhile is not overwritten either.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { invalidArgument } from '../errors.js';
import { CONFIG_FILE_NAMES } from '../supervisor/config-schema.js';
import { CONFIG_JSON_SCHEMA_FILE } from '../supervisor/json-schema.js';

export interface InitIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** The starter service's name and file. */
export const STARTER_SERVICE = 'hello';
export const STARTER_ENTRY = 'hello.mjs';

/** The files `warren init` writes, by name. */
export function starterFiles(): Record<string, string> {
  const config = {
    $schema: `./node_modules/warren/${CONFIG_JSON_SCHEMA_FILE}`,
    services: [{ name: STARTER_SERVICE, entry: `./${STARTER_ENTRY}`, instances: 2 }],
  };
  const service = `// The ${STARTER_SERVICE} service, started by \`warren up\` (see warren.config.json): one process per instance.
//   warren call ${STARTER_SERVICE} GET /hello            -> { "hello": "world", "instance": 0 }
//   warren call ${STARTER_SERVICE} GET '/hello?name=Ada'
import { defineService, runService } from 'warren/service';

const ${STARTER_SERVICE} = defineService({
  name: '${STARTER_SERVICE}',
  routes: {
    'GET /hello': ({ query }) => ({ hello: typeof query.name === 'string' ? query.name : 'world', instance: Number(process.env.WARREN_INSTANCE ?? 0) }),
  },
});

// Listens on <socket directory>/${STARTER_SERVICE}.<instance>.sock, tells warren up it is ready, and
// drains on SIGTERM (warren stop, a reload).
await runService(${STARTER_SERVICE});
`;
  return { 'warren.config.json': `${JSON.stringify(config, null, 2)}\n`, [STARTER_ENTRY]: service };
}

/** Writes the starter project into `dir` (default: the current directory). Exit code 0, or 1 when a file is in the way. */
export function initCommand(dir: string | undefined, io: InitIo): number {
  const target = resolve(dir ?? '.');
  const files = starterFiles();
  const inTheWay = [...new Set([...CONFIG_FILE_NAMES, ...Object.keys(files)])].find((name) => existsSync(join(target, name)));
  if (inTheWay !== undefined) {
    const error = invalidArgument(
      `${join(target, inTheWay)} already exists: init writes only where it overwrites nothing; edit that project's files, or name an empty directory (warren init <dir>)`,
    );
    io.err(`warren init: ${error.code}: ${error.message}\n`);
    return 1;
  }
  mkdirSync(target, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(target, name), text, { flag: 'wx' });
  const lines = [
    `wrote ${Object.keys(files).join(' and ')} in ${target}`,
    'next, with warren installed in the project (npm install warren):',
    ...(dir === undefined ? [] : [`  cd ${dir}`]),
    '  warren up                       # in the foreground, Ctrl-C stops (or --detach, then warren stop)',
    `  warren call ${STARTER_SERVICE} GET /hello    # from another terminal`,
  ];
  io.out(`${lines.join('\n')}\n`);
  return 0;
}
