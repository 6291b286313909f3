// What the three shop services share: the seed data (each process keeps its own copy in
// memory) and the shape of their error answers, the same as Warren's own:
// { error: { code, message } }.
import { reply } from 'warren/service';

export const USERS = [
  { id: '1', name: 'Ada Lovelace', email: 'ada@example.org' },
  { id: '2', name: 'Grace Hopper', email: 'grace@example.org' },
  { id: '3', name: 'Alan Turing', email: 'alan@example.org' },
];

/** Prices in cents, so that totals are exact. */
export const PRODUCTS = [
  { id: 'p1', name: 'Teapot', priceCents: 2499, stock: 5 },
  { id: 'p2', name: 'Mug', priceCents: 899, stock: 40 },
  { id: 'p3', name: 'Tea towel', priceCents: 650, stock: 12 },
  { id: 'p4', name: 'Kettle', priceCents: 4999, stock: 3 },
];

/** An error answer: `return problem(404, 'USER_NOT_FOUND', 'no user with id 42')`. */
export function problem(status, code, message) {
  return reply(status, { error: { code, message } });
}
