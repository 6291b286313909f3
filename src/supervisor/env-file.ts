/**
 * `.env` files: `KEY=value` lines, `#` comments, an optional `export ` prefix, values in single,
 * double or back quotes (which may span lines; `\n` in double quotes is a newline), and a `#`
 * that ends an unquoted value. No `${VAR}` expansion.
 *
 * Node's own `util.parseEnv` does the parsing where it exists (Node 20.12 and newer); on older
 * Node 20 releases a small parser for the same syntax stands in. The two agree on well-formed
 * files. They differ on malformed lines: Node 20's parser joins a line without `=` to the
 * next key (the config loader then refuses that key as a variable name), the fallback skips it.
 */
import * as util from 'node:util';

/** `util.parseEnv`, or undefined on Node releases without it (before 20.12). */
const nativeParseEnv: ((content: string) => NodeJS.Dict<string>) | undefined =
  typeof util.parseEnv === 'function' ? util.parseEnv : undefined;

/** True when `.env` files are parsed by Node's own `util.parseEnv`. */
export const usesNodeParseEnv = nativeParseEnv !== undefined;

/**
 * The variables of a `.env` file's content, in file order (a later line wins over an earlier
 * one with the same key). A leading byte order mark is ignored.
 */
export function parseEnvFile(content: string): Record<string, string> {
  const text = content.charCodeAt(0) === 0xfeff ? content.slice(1) : content;
  if (nativeParseEnv === undefined) return parseEnvFallback(text);
  const entries: [string, string][] = [];
  for (const [key, value] of Object.entries(nativeParseEnv(text))) if (typeof value === 'string') entries.push([key, value]);
  return Object.fromEntries(entries);
}

/** The parser used when Node has no `util.parseEnv`. Exported for tests. */
export function parseEnvFallback(content: string): Record<string, string> {
  const text = content.replace(/\r\n?/g, '\n');
  // A Map, then fromEntries: assigning a key such as `__proto__` to a plain object would change its prototype.
  const values = new Map<string, string>();
  let start = 0;
  while (start < text.length) {
    const newline = text.indexOf('\n', start);
    const end = newline === -1 ? text.length : newline;
    const line = text.slice(start, end);
    const equals = line.indexOf('=');
    const key =
      equals === -1
        ? ''
        : line
            .slice(0, equals)
            .trim()
            .replace(/^export\s+/, '');
    if (key === '' || key.startsWith('#')) {
      start = end + 1;
      continue;
    }
    let at = start + equals + 1;
    while (text[at] === ' ' || text[at] === '\t') at++;
    const quote = text[at];
    const close = quote === '"' || quote === "'" || quote === '`' ? text.indexOf(quote, at + 1) : -1;
    if (close !== -1) {
      const value = text.slice(at + 1, close);
      values.set(key, quote === '"' ? value.replace(/\\n/g, '\n') : value);
      const after = text.indexOf('\n', close);
      start = after === -1 ? text.length : after + 1;
      continue;
    }
    // Unquoted, or an opening quote that is never closed: the rest of the line, up to a '#'.
    const raw = text.slice(at, end);
    const hash = raw.indexOf('#');
    values.set(key, (hash === -1 ? raw : raw.slice(0, hash)).trim());
    start = end + 1;
  }
  return Object.fromEntries(values);
}
