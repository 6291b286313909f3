// Builds dist/: type declarations from tsc, JavaScript from esbuild.
//
// Each entry of package.json (its exports and its bin) becomes one bundled file at the path the
// package names, and code they share goes into dist/chunks/, so every module exists once
// (one codec registry, one class per error). Why bundle: Node keeps per-module bookkeeping for
// every ES module it loads, and a service instance that loaded ~50 small modules paid ~1.5 MB
// more memory and a slower start than the same code in a few files (bench/service idle RSS).
// Dependencies stay external: they are installed beside Warren, not copied into it.
//
// Then it writes schema/warren.schema.json, the config file's JSON schema, from the zod schema
// as just built (configJsonSchema), so that a new config key reaches the shipped schema by itself.
//
//   node scripts/build.mjs
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

/** dist/service/index.js -> src/service/index.ts, for every JavaScript file package.json names. */
function entryPoints() {
  // A string target (./schema.json) is a file shipped as it is, not an entry.
  const outputs = [...Object.values(pkg.exports).map((target) => (typeof target === 'string' ? target : target.default)), ...Object.values(pkg.bin)];
  return [
    ...outputs
      .filter((file) => file.endsWith('.js'))
      .map((file) => path.join(root, file.replace(/^(\.\/)?dist\//, 'src/').replace(/\.js$/, '.ts'))),
    // Not a public subpath: loaded with `node --import` into the processes of a service with a
    // shared `port` (src/supervisor/process.ts finds it at dist/supervisor/).
    path.join(root, 'src/supervisor/shared-port-preload.ts'),
  ];
}

rmSync(path.join(root, 'dist'), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--emitDeclarationOnly'], { stdio: 'inherit' });
await build({
  entryPoints: entryPoints(),
  outbase: path.join(root, 'src'),
  outdir: path.join(root, 'dist'),
  entryNames: '[dir]/[name]',
  // At the same depth as the entries (dist/<layer>/), so that a path relative to
  // import.meta.url such as '../../package.json' means the same from either.
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  // Maps point at src/ in the repository; the package ships without the sources themselves.
  sourcesContent: false,
  logLevel: 'warning',
});

// The browser client as one minified ES module with its dependencies inside (msgpackr's
// browser build, chosen by the 'browser' condition), for a <script type="module"> or a CDN.
// Bundled on its own: the Node entries above share chunks a browser must not load.
await build({
  entryPoints: [path.join(root, 'src', 'client', 'index.ts')],
  outfile: path.join(root, 'dist', 'client', 'warren-client.browser.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  logLevel: 'warning',
});

const supervisor = await import(pathToFileURL(path.join(root, 'dist', 'supervisor', 'index.js')).href);
const schemaFile = path.join(root, supervisor.CONFIG_JSON_SCHEMA_FILE);
mkdirSync(path.dirname(schemaFile), { recursive: true });
writeFileSync(schemaFile, `${JSON.stringify(supervisor.configJsonSchema(), null, 2)}\n`);
