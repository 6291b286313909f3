/**
 * `.env` files, read by Node's own `util.parseEnv` (Node 20.12 and newer, hence `engines`):
 * `KEY=value` lines, `#` comments, an optional `export ` prefix, values in single, double or back
 * quotes (which may span lines; `\n` in double quotes is a newline), and a `#` that ends an
 * unquoted value. No `${VAR}` expansion. A malformed line is not an error here: Node joins a line
 * without `=` to the next key, which the config loader then refuses as a variable name.
 */
import { parseEnv } from 'node:util';

/**
 * The variables of a `.env` file's content (a later line wins over an earlier one with the same
 * key), as a plain object. A leading byte order mark is ignored.
 */
export function parseEnvFile(content: string): Record<string, string> {
  const text = content.charCodeAt(0) === 0xfeff ? content.slice(1) : content;
  // fromEntries defines keys as own data properties: a key `__proto__` cannot change a prototype.
  return Object.fromEntries(Object.entries(parseEnv(text)).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}
