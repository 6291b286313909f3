/**
 * Per-IP rate limits by path prefix: a token bucket per (client address, rule). The longest
 * matching prefix's rule applies; a path no rule covers is not limited. Memory is bounded: at most
 * `maxClients` buckets are kept, the least recently used one goes first, and a bucket that has
 * refilled is worth nothing, so dropping it loses no state that matters.
 */
export interface RateLimitRule {
  /** Path prefix the rule covers, e.g. `/` or `/api/orders`. */
  prefix: string;
  /** Tokens added per second: the sustained rate. */
  perSecond: number;
  /** Bucket size: how many requests may come at once. */
  burst: number;
}

export type RateDecision = { ok: true } | { ok: false; retryAfterS: number };

interface Bucket {
  tokens: number;
  at: number;
}

export interface RateLimiter {
  take(ip: string, path: string, now?: number): RateDecision;
  /** Buckets held now (for tests and metrics). */
  readonly size: number;
}

const ALLOWED: RateDecision = { ok: true };

export function createRateLimiter(rules: readonly RateLimitRule[], maxClients = 100_000): RateLimiter {
  // Longest prefix first, so the first match is the most specific rule.
  const ordered = rules.map((rule, index) => ({ ...rule, index })).sort((a, b) => b.prefix.length - a.prefix.length);
  // A Map keeps insertion order: re-inserting on use makes its first key the least recently used.
  const buckets = new Map<string, Bucket>();
  return {
    get size() {
      return buckets.size;
    },
    take(ip, path, now = performance.now()) {
      const rule = ordered.find((r) => path.startsWith(r.prefix));
      if (rule === undefined) return ALLOWED;
      const key = `${rule.index} ${ip}`;
      let bucket = buckets.get(key);
      if (bucket === undefined) {
        bucket = { tokens: rule.burst, at: now };
        if (buckets.size >= maxClients) {
          const oldest = buckets.keys().next().value;
          if (oldest !== undefined) buckets.delete(oldest);
        }
      } else {
        buckets.delete(key);
        bucket.tokens = Math.min(rule.burst, bucket.tokens + ((now - bucket.at) / 1000) * rule.perSecond);
        bucket.at = now;
      }
      buckets.set(key, bucket);
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return ALLOWED;
      }
      return { ok: false, retryAfterS: Math.max(1, Math.ceil((1 - bucket.tokens) / rule.perSecond)) };
    },
  };
}
