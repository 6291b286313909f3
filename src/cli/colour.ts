/**
 * Colour for instance states and log levels, on a terminal only. A tiny helper rather than
 * `util.styleText`: the Node 20 releases disagree on whether styleText checks the stream, and
 * the CLI needs one rule for every command.
 *
 * The rule, as Node's own `getColorDepth` has it: FORCE_COLOR decides when set (`0` or `false`
 * turn colour off, anything else on), then a non-empty NO_COLOR turns it off, then colour is on
 * when the stream is a terminal and TERM is not `dumb`.
 */

export type Paint = (text: string, colour: Colour) => string;

export type Colour = 'red' | 'green' | 'yellow' | 'blue' | 'magenta' | 'cyan' | 'gray';

const CODES: Record<Colour, number> = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, gray: 90 };

/** Whether output to a stream with this `isTTY` gets colour under `env`. */
export function colourEnabled(isTTY: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return isTTY && env.TERM !== 'dumb';
}

/** Paints with ANSI colours when `enabled`, else returns the text as it is. */
export function painter(enabled: boolean): Paint {
  if (!enabled) return (text) => text;
  return (text, colour) => `\x1b[${CODES[colour]}m${text}\x1b[39m`;
}

/** The plain painter: tables and logs in tests and pipes. */
export const plain: Paint = (text) => text;

/** The colour of an instance state: green online, red errored, yellow on its way, gray stopped. */
export function stateColour(state: string): Colour | undefined {
  switch (state) {
    case 'online':
    case 'running':
    case 'ready':
      return 'green';
    case 'errored':
      return 'red';
    case 'starting':
    case 'restarting':
    case 'draining':
    case 'stopping':
      return 'yellow';
    case 'stopped':
      return 'gray';
    default:
      return undefined;
  }
}

/** The colour of a log level. */
export function levelColour(level: string): Colour | undefined {
  switch (level) {
    case 'fatal':
    case 'error':
      return 'red';
    case 'warn':
      return 'yellow';
    case 'info':
      return 'green';
    case 'debug':
    case 'trace':
      return 'gray';
    default:
      return undefined;
  }
}
