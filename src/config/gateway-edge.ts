/**
 * The `cors` and `cache` keys of the gateway section (docs/config.md, "The gateway"), as zod
 * schemas that src/config/gateway.ts includes. Values are normalised here (methods upper case,
 * header names and origins lower case) so the gateway compares them as they are.
 */
import { z } from 'zod';

/** The cache's bounds when `cache` is an object that leaves them out. */
export const CACHE_DEFAULTS = Object.freeze({
  maxEntries: 1_000,
  maxBytes: 64 * 1_048_576,
  maxEntryBytes: 1_048_576,
});

function int(min: number, max: number, expected: string) {
  const error = `expected ${expected}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}

/** An origin as browsers send it: scheme://host[:port], nothing after. */
const ORIGIN = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/\s?#]+$/;
const originError = 'expected an origin such as "https://app.example.com" (scheme, host, optional port; no path or trailing "/")';
/** An HTTP token (RFC 9110 §5.6.2): what a method or a header name is made of. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const list = (item: z.ZodType<string>, what: string) => z.array(item, { error: `expected a list of ${what}` });
const method = z
  .string({ error: 'expected an HTTP method such as "GET"' })
  .regex(TOKEN, { error: 'expected an HTTP method such as "GET"' })
  .transform((m) => m.toUpperCase());
const header = z
  .string({ error: 'expected a header name such as "content-type"' })
  .regex(TOKEN, { error: 'expected a header name such as "content-type"' })
  .transform((h) => h.toLowerCase());

export const corsRuleSchema = z
  .strictObject(
    {
      prefix: z
        .string({ error: 'expected a path prefix starting with /' })
        .regex(/^\//, { error: 'expected a path prefix starting with /' }),
      origins: z.union(
        [
          z.literal('*'),
          z
            .array(
              z
                .string({ error: originError })
                .regex(ORIGIN, { error: originError })
                .transform((o) => o.toLowerCase()),
              { error: 'expected "*" or a list of origins' },
            )
            .min(1, { error: 'expected "*" or a list of at least one origin' }),
        ],
        { error: 'expected "*" or a list of origins' },
      ),
      methods: list(method, 'HTTP methods').optional(),
      headers: list(header, 'header names').optional(),
      exposeHeaders: list(header, 'header names').optional(),
      credentials: z.boolean({ error: 'expected true or false' }).default(false),
      maxAgeS: int(0, 86_400, 'a whole number of seconds from 0 to 86400').optional(),
    },
    { error: (issue) => (issue.code === 'unrecognized_keys' ? undefined : 'expected { prefix, origins, methods?, headers?, … }') },
  )
  .superRefine((rule, ctx) => {
    if (rule.origins === '*' && rule.credentials) {
      ctx.addIssue({
        code: 'custom',
        path: ['credentials'],
        input: true,
        message: 'expected a list of origins with credentials: true ("*" would let every site send the user\'s cookies)',
      });
    }
  });

export const corsSchema = z.array(corsRuleSchema, { error: 'expected a list of { prefix, origins, … }' }).default([]);

export const cacheSchema = z
  .union(
    [
      z.literal(false),
      z.strictObject({
        maxEntries: int(1, 10_000_000, 'a whole number of entries from 1 to 10000000').default(CACHE_DEFAULTS.maxEntries),
        maxBytes: int(1, 17_179_869_184, 'a whole number of bytes from 1 to 17179869184 (16 GiB)').default(CACHE_DEFAULTS.maxBytes),
        maxEntryBytes: int(1, 1_073_741_824, 'a whole number of bytes from 1 to 1073741824').default(CACHE_DEFAULTS.maxEntryBytes),
      }),
    ],
    { error: 'expected false or { maxEntries?, maxBytes?, maxEntryBytes? }' },
  )
  .default(false)
  .superRefine((cache, ctx) => {
    if (cache !== false && cache.maxEntryBytes > cache.maxBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxEntryBytes'],
        input: cache.maxEntryBytes,
        message: `expected at most maxBytes (${cache.maxBytes}), got ${cache.maxEntryBytes}`,
      });
    }
  });

export type CorsRuleConfig = z.output<typeof corsRuleSchema>;
export type CacheConfig = Exclude<z.output<typeof cacheSchema>, false>;
