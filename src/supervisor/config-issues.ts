/**
 * A config's problems as `ConfigIssue`s and one `ConfigError`: one line per key path, naming the
 * key, the value received and what was expected; an unknown key gets the known ones and a guess.
 */
import type { z } from 'zod';
import { gatewayConfigShape } from '../config/gateway.js';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { configSchema, natsSchema, restartSchema, serviceSchema } from './config-schema.js';

export function configError(issues: readonly ConfigIssue[], file: string | null): ConfigError {
  const count = `${issues.length} problem${issues.length === 1 ? '' : 's'}`;
  const lines = issues.map((issue) => `  ${issue.path === '' ? '' : `${issue.path}: `}${issue.message}`);
  const heading = file === null ? `invalid config (${count}):` : `invalid config ${file} (${count}):`;
  return new ConfigError([heading, ...lines].join('\n'), file === null ? { issues } : { issues, file });
}

/** Zod's issues as one `ConfigIssue` per key path (the first issue of a path wins). */
export function toIssues(error: z.ZodError, sources: Partial<Record<string, { label: string }>>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  const add = (path: string, message: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    issues.push({ path, message });
  };
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(issue.path);
      for (const key of issue.keys) {
        const guess = closest(key, known);
        add(
          formatPath([...issue.path, key]),
          `unknown key${guess === undefined ? '' : ` (did you mean "${guess}"?)`}${known.length === 0 ? '' : `; known keys: ${known.join(', ')}`}`,
        );
      }
      continue;
    }
    let message: string;
    if (issue.code === 'custom') message = issue.message;
    else if (issue.code === 'invalid_key') message = `${issue.issues[0]?.message ?? 'expected a valid key'}, got ${show(issue.input)}`;
    else if (issue.code === 'invalid_type' && issue.input === undefined) message = `${issue.message}, but the key is missing`;
    else message = `${issue.message}, got ${show(issue.input)}`;
    const top = issue.path.length === 1 ? sources[String(issue.path[0])] : undefined;
    add(formatPath(issue.path), top === undefined ? message : `${message} (from ${top.label})`);
  }
  return issues;
}

/** `['services', 1, 'restart']` → `services[1].restart`. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && /^[A-Za-z_$][\w$]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out;
}

/** A value as it appears in a message: JSON where possible, cut to 80 characters. */
function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol' || typeof value === 'number') return String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Array.isArray(value) ? 'an array' : 'an object';
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** The keys allowed where an unknown key was found: the object schemas' own shapes (zod's public `.shape`). */
function knownKeys(path: readonly PropertyKey[]): string[] {
  if (path.length === 0) return Object.keys(configSchema.shape);
  if (path[0] === 'gateway' && path.length === 1) return Object.keys(gatewayConfigShape);
  if (path[0] === 'nats' && path.length === 1) return Object.keys(natsSchema.shape);
  if (path[0] === 'nats' && path.length === 2 && path[1] === 'tls') return ['caFile', 'certFile', 'keyFile'];
  if (path[0] === 'services' && path.length === 2) return Object.keys(serviceSchema.shape);
  if (path[0] === 'services' && path.length === 3 && path[2] === 'restart') return Object.keys(restartSchema.shape);
  if (path[0] === 'services' && path.length === 3 && path[2] === 'ready') return ['listen'];
  if (path[0] === 'services' && path.length === 4 && path[2] === 'ready' && path[3] === 'listen') return ['port', 'host'];
  return [];
}

/** The candidate closest to `word` (case ignored), if it is close enough to be a likely typo. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length]!;
}
