// docs/protocol.md §14 lists every method of the supervisor's control socket, and nothing else.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONTROL } from '../../src/supervisor/index.js';

const DOC = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

describe("docs/protocol.md: the supervisor's control socket", () => {
  it('its table names exactly the methods of CONTROL', () => {
    const section = DOC.slice(DOC.indexOf("\n## 14. The supervisor's control socket\n"));
    expect(section.length).toBeLessThan(DOC.length);
    const documented = [...section.matchAll(/^\| `(supervisor\.[A-Za-z]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(
      Object.values(CONTROL)
        .map((m) => m.method)
        .sort(),
    );
  });
});
