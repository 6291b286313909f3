/** A listener table whose `on` returns the remover (as ws's addListeners does). Node-free for the browser. */

// biome-ignore lint/suspicious/noExplicitAny: listeners of different events take different arguments
export type Listener = (...args: any[]) => void;

export class Listeners {
  readonly #byEvent = new Map<string, Set<Listener>>();

  on(event: string, listener: Listener): () => void {
    if (typeof listener !== 'function') throw new TypeError(`listener of '${event}' must be a function`);
    let set = this.#byEvent.get(event);
    if (set === undefined) {
      set = new Set();
      this.#byEvent.set(event, set);
    }
    // A wrapper per registration, so the same function added twice is removed once per remover.
    const entry: Listener = (...args) => listener(...args);
    set.add(entry);
    const listeners = set;
    return () => {
      listeners.delete(entry);
      if (listeners.size === 0 && this.#byEvent.get(event) === listeners) this.#byEvent.delete(event);
    };
  }

  /** Calls each listener of `event`; one that throws does not stop the others (its error is reported asynchronously). */
  emit(event: string, ...args: unknown[]): void {
    const set = this.#byEvent.get(event);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (error) {
        // Rethrown outside the message loop: an app bug must not drop the rest of the frame's work.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  has(event: string): boolean {
    return this.#byEvent.has(event);
  }

  clear(): void {
    this.#byEvent.clear();
  }
}
