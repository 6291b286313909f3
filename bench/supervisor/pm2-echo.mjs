// The echo service as PM2 runs it (fork mode), for the PM2 side of `npm run bench:supervisor`.
// The service code is echo-service.mjs, unchanged; this wrapper only adapts it to PM2:
// - the instance number: PM2 numbers the instances of an app in NODE_APP_INSTANCE, Warren reads
//   WARREN_INSTANCE (both instances would otherwise take socket echo.0.sock);
// - readiness: runService sends {warren: 'ready', ...} over the IPC channel once it listens, and
//   PM2's `wait_ready` waits for the string 'ready', sent here right after that.
process.env.WARREN_INSTANCE ??= process.env.NODE_APP_INSTANCE;
await import('./echo-service.mjs');
process.send?.('ready');
