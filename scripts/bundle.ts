/**
 * Bundles one app's entry point into `dist/main.mjs` for production: the workspace packages (@kanal/*,
 * TypeScript sources) are compiled in, every third-party package stays an import from node_modules.
 * A bundled process starts faster and needs less memory than one running TypeScript through tsx
 * (docs/BENCHMARKS.md, idle event streams).
 *
 * Run from an app's folder: `tsx ../../scripts/bundle.ts src/main.ts` (what `npm run build` does).
 */
import { build } from "esbuild";

const entry = process.argv[2] ?? "src/main.ts";
await build({
  entryPoints: [entry],
  outfile: "dist/main.mjs",
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  sourcemap: true,
  logLevel: "warning",
  // ESM output still meets CommonJS packages that call require() for Node built-ins.
  banner: {
    js: "import { createRequire as __kanalRequire } from 'node:module'; const require = __kanalRequire(import.meta.url);",
  },
  plugins: [
    {
      name: "third-party-external",
      setup(b) {
        b.onResolve({ filter: /^[^./]/ }, (args) =>
          args.path.startsWith("@kanal/") ? undefined : { path: args.path, external: true },
        );
      },
    },
  ],
});
