/**
 * CORS by path prefix (the Fetch standard's CORS protocol, as browsers apply it). The rule with
 * the longest prefix of a path governs it; a path no rule covers gets no CORS headers and its
 * OPTIONS requests are routed as any other. Under a rule the gateway owns the CORS answer: it
 * answers preflights itself (they never reach a service) and sets Access-Control-Allow-Origin on
 * every answer to an allowed origin, replacing what a service set.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { CorsRuleConfig } from '../config/gateway-edge.js';
import { pathOf } from './exchange.js';

/** The methods a rule allows when it names none. */
export const DEFAULT_CORS_METHODS: readonly string[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

interface Rule {
  readonly prefix: string;
  readonly origins: ReadonlySet<string> | '*';
  readonly methods: ReadonlySet<string>;
  readonly allowMethods: string;
  /** Allowed request headers; undefined: those the preflight asks for are allowed. */
  readonly headers: ReadonlySet<string> | undefined;
  readonly expose: string | undefined;
  readonly credentials: boolean;
  readonly maxAge: string | undefined;
}

/** A preflight the gateway answers: the headers of its 204, or why it is refused (403). */
export type PreflightAnswer = { ok: true; headers: Record<string, string> } | { ok: false; message: string };

export class Cors {
  /** Longest prefix first, so the first match is the most specific rule. */
  private readonly rules: readonly Rule[];

  constructor(rules: readonly CorsRuleConfig[]) {
    this.rules = rules
      .map(
        (rule): Rule => ({
          prefix: rule.prefix,
          origins: rule.origins === '*' ? '*' : new Set(rule.origins),
          methods: new Set(rule.methods ?? DEFAULT_CORS_METHODS),
          allowMethods: (rule.methods ?? DEFAULT_CORS_METHODS).join(', '),
          headers: rule.headers === undefined ? undefined : new Set(rule.headers),
          expose: rule.exposeHeaders !== undefined && rule.exposeHeaders.length > 0 ? rule.exposeHeaders.join(', ') : undefined,
          credentials: rule.credentials,
          maxAge: rule.maxAgeS === undefined ? undefined : String(rule.maxAgeS),
        }),
      )
      .sort((a, b) => b.prefix.length - a.prefix.length);
  }

  private ruleFor(url: string): Rule | undefined {
    const path = pathOf(url);
    return this.rules.find((rule) => path.startsWith(rule.prefix));
  }

  /**
   * The gateway's answer to a CORS preflight (OPTIONS with Origin and
   * Access-Control-Request-Method) on a path a rule covers; undefined for any other request.
   */
  preflight(method: string, url: string, headers: IncomingHttpHeaders): PreflightAnswer | undefined {
    const origin = headers.origin;
    const asked = headers['access-control-request-method'];
    if (method !== 'OPTIONS' || typeof origin !== 'string' || typeof asked !== 'string') return undefined;
    const rule = this.ruleFor(url);
    if (rule === undefined) return undefined;
    const where = `gateway.cors rule for "${rule.prefix}"`;
    if (!allows(rule, origin)) return { ok: false, message: `origin ${origin} is not allowed by the ${where}: add it to its origins` };
    if (!rule.methods.has(asked)) {
      return {
        ok: false,
        message: `method ${asked} is not allowed by the ${where} (allowed: ${rule.allowMethods}): add it to its methods`,
      };
    }
    const out: Record<string, string> = {
      'access-control-allow-methods': rule.allowMethods,
      vary: 'Access-Control-Request-Method, Access-Control-Request-Headers',
    };
    const wanted = headerList(headers['access-control-request-headers']);
    if (rule.headers !== undefined) {
      const refused = wanted.filter((name) => !(rule.headers as ReadonlySet<string>).has(name));
      if (refused.length > 0) {
        return { ok: false, message: `header(s) ${refused.join(', ')} not allowed by the ${where}: add them to its headers` };
      }
      if (rule.headers.size > 0) out['access-control-allow-headers'] = [...rule.headers].join(', ');
    } else if (wanted.length > 0) {
      out['access-control-allow-headers'] = wanted.join(', ');
    }
    if (rule.maxAge !== undefined) out['access-control-max-age'] = rule.maxAge;
    return { ok: true, headers: out };
  }

  /**
   * Sets the CORS headers of an answer on a covered path: `Vary: Origin` always (the answer
   * depends on it), and for an allowed origin that origin echoed (never `*`), credentials and
   * exposed headers as the rule says. Any of these a service set are dropped.
   */
  decorate(url: string, origin: string | undefined, headers: Record<string, string>): void {
    const rule = this.ruleFor(url);
    if (rule === undefined) return;
    delete headers['access-control-allow-origin'];
    delete headers['access-control-allow-credentials'];
    delete headers['access-control-expose-headers'];
    addVary(headers, 'Origin');
    if (origin === undefined || !allows(rule, origin)) return;
    headers['access-control-allow-origin'] = origin;
    if (rule.credentials) headers['access-control-allow-credentials'] = 'true';
    if (rule.expose !== undefined) headers['access-control-expose-headers'] = rule.expose;
  }
}

function allows(rule: Rule, origin: string): boolean {
  return rule.origins === '*' || rule.origins.has(origin.toLowerCase());
}

/** A comma-separated header list, lower case, without empty items. */
function headerList(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
}

/** Adds `name` to the answer's Vary unless it is there (or Vary is `*`). */
export function addVary(headers: Record<string, string>, name: string): void {
  const vary = headers.vary;
  if (vary === undefined || vary === '') {
    headers.vary = name;
    return;
  }
  const lower = name.toLowerCase();
  if (headerList(vary).some((item) => item === lower || item === '*')) return;
  headers.vary = `${vary}, ${name}`;
}
