// The products service: the catalogue, written as a class controller. The demo runs two
// instances of it (WARREN_INSTANCE=0 and 1); callers spread over both and go on with one.
//   GET /products         the catalogue, public (no token needed), ?maxPrice=<cents>&inStock=true
//   GET /products/:id     one product, or 404 PRODUCT_NOT_FOUND
import { defineService, instanceFromEnv, reply, runService } from 'warren/service';
import { z } from 'zod';
import { PRODUCTS, problem } from './data.mjs';

// Query values arrive as strings: coerce them. Strict, so a misspelt filter is a 400, not ignored.
const ListQuery = z.strictObject({
  maxPrice: z.coerce.number().int().nonnegative().optional(),
  inStock: z.stringbool().optional(),
});

// Tells the caller which instance answered.
const SERVED_BY = { 'x-served-by': `products.${instanceFromEnv()}` };

class Catalogue {
  // Route -> action method. One Catalogue is made per process, with the service's dependencies.
  static routes = {
    'GET /products': { action: 'list', public: true, schema: { query: ListQuery } },
    'GET /products/:id': 'show',
  };

  constructor({ products }) {
    this.products = products;
  }

  list({ query }) {
    let found = [...this.products.values()];
    if (query.maxPrice !== undefined) found = found.filter((product) => product.priceCents <= query.maxPrice);
    if (query.inStock !== undefined) found = found.filter((product) => (query.inStock ? product.stock > 0 : product.stock === 0));
    return reply(200, found, SERVED_BY);
  }

  show({ params }) {
    const product = this.products.get(params.id);
    return product ? reply(200, product, SERVED_BY) : problem(404, 'PRODUCT_NOT_FOUND', `no product with id ${params.id}`);
  }
}

await runService(
  defineService({
    name: 'products',
    dependencies: () => ({ products: new Map(PRODUCTS.map((product) => [product.id, { ...product }])) }),
    controllers: [Catalogue],
  }),
);
