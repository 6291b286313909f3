// The service the supervisor benchmark runs: POST /echo returns its body.
import { defineService, runService } from 'warren/service';

await runService(defineService({ name: 'echo', routes: { 'POST /echo': ({ body }) => body } }));
