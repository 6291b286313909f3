// @ts-check
// The contract both sides import: one descriptor per method, carrying its params and result
// types. In JavaScript the types ride in JSDoc, so an editor (or `tsc --checkJs`) flags a wrong
// params shape on either side. In TypeScript the same contract reads:
//
//   export const users = {
//     get: method<{ id: number }, User>('users.get'),
//     create: method<{ name: string; email: string }, User>('users.create'),
//     list: method<{ role?: Role }, AsyncIterable<User>>('users.list'),
//   };
//   export const userEvents = { created: notification<User>('users.created') };
import { method, notification } from 'warren/peer';

/** @typedef {'admin' | 'member'} Role */
/** @typedef {{ id: number; name: string; email: string; role: Role }} User */

/**
 * @template P, R
 * @typedef {import('warren/peer').MethodDescriptor<P, R>} MethodDescriptor
 */
/**
 * @template P
 * @typedef {import('warren/peer').NotificationDescriptor<P>} NotificationDescriptor
 */

export const users = {
  /** @type {MethodDescriptor<{ id: number }, User>} */
  get: method('users.get'),
  /** @type {MethodDescriptor<{ name: string; email: string; role?: Role }, User>} */
  create: method('users.create'),
  // A stream: the handler returns an async generator, the caller gets an AsyncIterable it
  // reads with for await, and the producer is paced by the reader (credit-based flow control).
  /** @type {MethodDescriptor<{ role?: Role }, AsyncIterable<User>>} */
  list: method('users.list'),
};

export const userEvents = {
  /** @type {NotificationDescriptor<User>} */
  created: notification('users.created'),
};
