export * from './errors.js';
export * from './peer/index.js';
export * from './wire/index.js';
