/**
 * Per-IP token buckets for new connections: `burst` handshakes at once, refilled at `perSecond`.
 * Buckets that are full again are forgotten by `prune()`, so memory follows the active IPs only.
 */
export interface RateLimit {
  /** Handshakes per second an IP earns back (0 turns the limit off). */
  perSecond: number;
  /** Handshakes an IP may make at once. */
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class ConnectionRateLimiter {
  readonly #limit: RateLimit;
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;

  constructor(limit: RateLimit, now: () => number = Date.now) {
    this.#limit = limit;
    this.#now = now;
  }

  /** Takes one token for `ip`; false when its bucket is empty. */
  take(ip: string): boolean {
    const { perSecond, burst } = this.#limit;
    if (perSecond <= 0) return true;
    const now = this.#now();
    let bucket = this.#buckets.get(ip);
    if (bucket === undefined) {
      bucket = { tokens: burst, at: now };
      this.#buckets.set(ip, bucket);
    } else {
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
      bucket.at = now;
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Seconds until `ip` has a token again (for Retry-After). */
  retryAfterS(ip: string): number {
    const bucket = this.#buckets.get(ip);
    if (bucket === undefined || this.#limit.perSecond <= 0) return 0;
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.#limit.perSecond));
  }

  /** Forgets buckets that have refilled completely. */
  prune(): void {
    const now = this.#now();
    const { perSecond, burst } = this.#limit;
    for (const [ip, bucket] of this.#buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * perSecond >= burst) this.#buckets.delete(ip);
    }
  }

  get size(): number {
    return this.#buckets.size;
  }
}
