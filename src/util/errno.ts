/** Helpers for Node's system errors (`NodeJS.ErrnoException`). */

/** The errno code of an error (`'ENOENT'`, …), or undefined when it has none. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Is this error the process running out of file descriptors (its own limit or the system's)? */
export function isOutOfFds(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'EMFILE' || code === 'ENFILE';
}
