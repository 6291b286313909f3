const what = process.argv[2];
if (what === 'svc') { const { defineService, serveService } = await import('warren/service'); await serveService(defineService({ name: 'idle', routes: { 'GET /x': () => 1 } }), { socketDir: '/tmp/r2-' + process.pid }); }
else if (what) await import(what);
await new Promise(r=>setTimeout(r,800)); gc(); await new Promise(r=>setTimeout(r,300));
const m = process.memoryUsage(); const mb = (x)=>(x/1048576).toFixed(1);
console.log(String(what).padEnd(30), 'rss', mb(m.rss), 'heapTotal', mb(m.heapTotal), 'heapUsed', mb(m.heapUsed), 'ext', mb(m.external), 'ab', mb(m.arrayBuffers));
process.exit(0);
