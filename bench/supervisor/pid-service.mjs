// The service of the standby part of bench:supervisor: GET /pid answers which process served it.
import { defineService, runService } from 'warren/service';

await runService(defineService({ name: 'echo', routes: { 'GET /pid': () => ({ pid: process.pid }) } }));
