/** What instances print reaches the supervisor's output line by line, long lines cut and flagged. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_LINE_LENGTH, truncationMarker } from '../../src/supervisor/lines.js';
import { supervisorFixture, until, useSupervisors } from '../support/supervised.js';

const { setup } = useSupervisors();

describe("an instance's output", () => {
  it('comes line by line; a line longer than the maximum is cut, ends with the marker and is flagged truncated', async () => {
    const { supervisor, rec } = setup([{ name: 'longline', entry: supervisorFixture('long-line.mjs') }]);
    await supervisor.start();
    await until(
      () => rec.lines.includes('longline.0 stderr short line'),
      () => `the short line: ${rec.lines.join('\n')}`,
    );
    const long = rec.lines.filter((line) => line.startsWith('longline.0 stderr (truncated) '));
    expect(long).toHaveLength(1);
    const text = long[0]?.slice('longline.0 stderr (truncated) '.length) ?? '';
    expect(text).toBe('x'.repeat(DEFAULT_MAX_LINE_LENGTH) + truncationMarker(DEFAULT_MAX_LINE_LENGTH));
  });
});
