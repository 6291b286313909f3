/**
 * Typed contracts: a descriptor carries a method's params and result types into both
 * `peer.request(descriptor, params)` and `peer.onRequest(descriptor, handler)`, so a wrong
 * params shape or a misspelt descriptor fails at compile time.
 *
 * @example
 * export const math = { add: method<{ a: number; b: number }, number>('math.add') };
 * peer.onRequest(math.add, ({ a, b }) => a + b);
 * const sum: number = await peer.request(math.add, { a: 1, b: 2 });
 */

declare const paramsType: unique symbol;
declare const resultType: unique symbol;

export interface MethodDescriptor<P, R> {
  readonly kind: 'request';
  readonly method: string;
  /** Phantom members: they only exist for the type checker. */
  readonly [paramsType]?: P;
  readonly [resultType]?: R;
}

export interface NotificationDescriptor<P> {
  readonly kind: 'notification';
  readonly method: string;
  readonly [paramsType]?: P;
}

/**
 * A request method. A method without a result answers `null`: `undefined` from a handler
 * means "not mine, ask the next handler".
 */
export function method<P = void, R = null>(name: string): MethodDescriptor<P, R> {
  return Object.freeze({ kind: 'request', method: name }) as MethodDescriptor<P, R>;
}

export function notification<P = void>(name: string): NotificationDescriptor<P> {
  return Object.freeze({ kind: 'notification', method: name }) as NotificationDescriptor<P>;
}

export type ParamsOf<D> = D extends MethodDescriptor<infer P, unknown> ? P : D extends NotificationDescriptor<infer P> ? P : never;
export type ResultOf<D> = D extends MethodDescriptor<unknown, infer R> ? R : never;
