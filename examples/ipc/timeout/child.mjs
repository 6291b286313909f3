// A handler that takes as long as it is asked to, unless its caller gives up first.
import { stdioPeer } from 'warren/peer';

const parent = stdioPeer({ name: 'parent' });

parent.onRequest('slow', (ms, ctx) => {
  const started = performance.now();
  parent.notify('slow.started', { id: ctx.id });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(`finished after ${ms} ms`), ms);
    // Without this the timer would run to the end and its answer would be thrown away.
    ctx.signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        const reason = ctx.signal.reason?.code ?? String(ctx.signal.reason);
        parent.notify('slow.aborted', { id: ctx.id, reason, ms: Math.round(performance.now() - started) });
        reject(ctx.signal.reason);
      },
      { once: true },
    );
  });
});
