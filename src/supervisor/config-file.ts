/**
 * Finding and reading the supervisor's config: the config file (JSON with comments, or a module,
 * TypeScript through tsx), the `.env` beside it, and the check that every entry file exists.
 * Validation and resolution are config.ts's `parseConfig`.
 */
import type { Stats } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type ParseError, parse as parseJson } from 'jsonc-parser';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { type LoadConfigOptions, type ParseConfigOptions, parseConfig, type ResolvedConfig } from './config.js';
import { configError } from './config-issues.js';
import { CONFIG_FILE_NAMES, ENV_FILE_NAME, MODULE_EXTENSIONS, TYPESCRIPT_EXTENSIONS } from './config-schema.js';
import { parseEnvFile } from './env-file.js';

/**
 * Finds, reads and resolves the config. `path` may name the file or a directory to look in;
 * without it the config is looked for in `cwd`. The `.env` file beside the config is read when
 * it exists. Every service's entry file must exist. Throws a `ConfigError`: no config file (or
 * several), unreadable file, bad JSON (with line and column), a module that fails to load or
 * has no default export, a TypeScript config without tsx, invalid values, missing entries.
 */
export async function loadConfig(path?: string, options: LoadConfigOptions = {}): Promise<ResolvedConfig> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const file = await locateConfigFile(path === undefined ? cwd : resolve(cwd, path), path !== undefined);
  const raw = await readConfigFile(file);
  const baseDir = dirname(file);
  const envFile = await readEnvFile(join(baseDir, ENV_FILE_NAME), file);
  const config = parseConfig(raw, {
    baseDir,
    env: options.env ?? process.env,
    cwd,
    configPath: file,
    envFile,
    socketDirOption: options.socketDirOption,
  });
  await checkEntries(config);
  return config;
}

/**
 * The config file in `dir`: the one of `CONFIG_FILE_NAMES` that exists. Throws a `ConfigError`
 * when none does, or when several do (which one wins would be a guess).
 */
export async function findConfigFile(dir: string): Promise<string> {
  const directory = resolve(dir);
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    throw new ConfigError(`cannot look for a config file in ${directory}: ${(error as Error).message}`, { cause: error });
  }
  const found = CONFIG_FILE_NAMES.filter((name) => names.includes(name));
  if (found.length === 0) {
    throw new ConfigError(`no config file in ${directory}: expected one of ${CONFIG_FILE_NAMES.join(', ')}`);
  }
  if (found.length > 1) {
    throw new ConfigError(`several config files in ${directory} (${found.join(', ')}): keep one, or name the one to use`);
  }
  return join(directory, found[0]!);
}

async function locateConfigFile(target: string, explicit: boolean): Promise<string> {
  let stats: Stats;
  try {
    stats = await stat(target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && explicit) throw new ConfigError(`config file ${target} does not exist`, { file: target, cause: error });
    throw new ConfigError(`cannot read config file ${target}: ${(error as Error).message}`, { file: target, cause: error });
  }
  if (stats.isDirectory()) return findConfigFile(target);
  if (!stats.isFile()) throw new ConfigError(`config file ${target} is not a regular file`, { file: target });
  const extension = extname(target);
  if (extension !== '.json' && !MODULE_EXTENSIONS.has(extension) && !TYPESCRIPT_EXTENSIONS.has(extension)) {
    throw new ConfigError(
      `config file ${target} has an unsupported type (${extension || 'no extension'}): use .json, .mjs, .js, .cjs, .ts or .mts`,
      { file: target },
    );
  }
  return target;
}

/** Module configs get a new URL on every load, so that a reload reads the edited file, not Node's cached module. */
let loads = 0;

async function readConfigFile(file: string): Promise<unknown> {
  if (extname(file) === '.json') {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`, { file, cause: error });
    }
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new ConfigError(`config file ${file} is not valid JSON: ${describeJsonError(text, error as Error)}`, { file, cause: error });
    }
  }

  const url = `${pathToFileURL(file).href}?warren-load=${++loads}`;
  let namespace: Record<string, unknown>;
  try {
    namespace = TYPESCRIPT_EXTENSIONS.has(extname(file)) ? await importTypeScript(url) : ((await import(url)) as Record<string, unknown>);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`config module ${file} failed to load: ${(error as Error)?.message ?? String(error)}`, { file, cause: error });
  }
  if (namespace.default === undefined) {
    const named = Object.keys(namespace).filter((key) => key !== 'default');
    const exported = named.length > 0 ? ` (it exports only ${named.join(', ')})` : '';
    throw new ConfigError(`config module ${file} has no default export${exported}: write \`export default { services: [...] }\``, {
      file,
    });
  }
  return namespace.default;
}

async function readEnvFile(path: string, configFile: string): Promise<ParseConfigOptions['envFile']> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read ${path}: ${(error as Error).message}`, { file: configFile, cause: error });
  }
  return { path, values: parseEnvFile(text) };
}

async function checkEntries(config: ResolvedConfig): Promise<void> {
  const problems = await Promise.all(
    config.services.map(async (service, index): Promise<ConfigIssue | null> => {
      const where = `services[${index}].entry`;
      try {
        const stats = await stat(service.entry);
        if (stats.isFile()) return null;
        return { path: where, message: `service '${service.name}': entry ${service.entry} is not a file` };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          return { path: where, message: `service '${service.name}': entry file ${service.entry} does not exist` };
        }
        return {
          path: where,
          message: `service '${service.name}': entry file ${service.entry} cannot be read: ${(error as Error).message}`,
        };
      }
    }),
  );
  const issues = problems.filter((issue): issue is ConfigIssue => issue !== null);
  if (issues.length > 0) throw configError(issues, config.configPath);
}

/**
 * What is wrong with `text` as JSON, and where: V8's description without its position or its
 * copy of the input, at the line and column of the first error jsonc-parser finds. V8 gives no
 * position for some errors, and the format of its messages is not stable; where it only says
 * "Unexpected token", the token named is the one found at that position.
 */
function describeJsonError(text: string, error: Error): string {
  const what = error.message
    .replace(/ in JSON at position \d+.*$/s, '')
    .replace(/, ".*" is not valid JSON$/s, '')
    .replace(/^JSON\.parse: /, '');
  const errors: ParseError[] = [];
  parseJson(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (first === undefined) return what;
  const found = text.slice(first.offset, first.offset + first.length);
  const description = what.startsWith('Unexpected token') && found !== '' ? `Unexpected token '${found}'` : what;
  const before = text.slice(0, first.offset);
  const line = before.split('\n').length;
  const column = first.offset - before.lastIndexOf('\n');
  return `${description} at line ${line}, column ${column}`;
}

/**
 * Loads a TypeScript config through tsx's scoped loader: it compiles this one import (and what it
 * imports) without registering a loader for the rest of the process.
 */
async function importTypeScript(url: string): Promise<Record<string, unknown>> {
  let tsImport: (specifier: string, parentURL: string) => Promise<unknown>;
  try {
    ({ tsImport } = await import('tsx/esm/api'));
  } catch (error) {
    throw new ConfigError(
      `cannot load ${fileURLToPath(url)}: a TypeScript config needs the tsx package (npm install tsx), or write the config as warren.config.mjs or warren.config.json`,
      { file: fileURLToPath(url), cause: error },
    );
  }
  const namespace = (await tsImport(url, import.meta.url)) as Record<string, unknown>;
  // Outside a `"type": "module"` package tsx compiles the file to CommonJS, and Node's import of
  // it puts the whole exports object (marked __esModule) under `default`: unwrap it.
  const inner = namespace.default as { __esModule?: unknown } | undefined;
  if (typeof inner === 'object' && inner !== null && inner.__esModule === true) return inner as Record<string, unknown>;
  return namespace;
}
