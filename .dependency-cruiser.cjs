// Import rules for the monorepo, checked by `npm run lint` (dependency-cruiser).
// Run by hand: npx depcruise packages apps migrations scripts test bench --config .dependency-cruiser.cjs
// A graph of one area: add `--include-only "^packages/core" --output-type archi | dot -T svg > core.svg`.
//
// Every import counts, `import type` included: the swc parser used below does not tell type-only imports
// apart, so a type import across a layer or in a cycle is reported like any other.
const fs = require("node:fs");
const path = require("node:path");

// --- Parser --------------------------------------------------------------------------------------------
// TypeScript 7 ships no JavaScript compiler API, so dependency-cruiser's "tsc" parser is unavailable, and its
// fallback (acorn-loose over untranspiled TypeScript) silently drops `export type … from` re-exports. swc
// parses TypeScript itself. dependency-cruiser 17 (the last line that runs on Node 20; 18 refuses to start on
// it) calls swc without `tsx: true`, so every .tsx file fails at its first JSX tag; 18.3 fixed that upstream.
// Until CI runs Node 22 and we move to 18.x, turn the flag on for .tsx here. dependency-cruiser loads the
// same CommonJS instance of @swc/core, so this affects its parse calls and nothing else. Remove with 18.x.
const swc = require("@swc/core");
const swcParseFileSync = swc.parseFileSync;
swc.parseFileSync = (file, options) =>
  swcParseFileSync.call(swc, file, /\.[jt]sx$/.test(file) ? { ...options, tsx: true } : options);

// --- Where things are ----------------------------------------------------------------------------------
const ROOT = __dirname;
const TEST = "(^|/)test/|[.]test[.]tsx?$";
const TOOLING = "(^|/)[^/]+[.]config[.]ts$"; // vite.config.ts and the like: build tooling, not shipped code
const WORKSPACE = "^(apps/[^/]+|packages/[^/]+|migrations)/";

// Layers inside packages/core/src. A module may import its own layer and lower ones, never a higher one.
const CORE_LAYERS = [
  ["kernel/", "realtime/"],
  ["services.ts", "auth/", "tenants/", "people/", "customers/", "rules/", "billing/", "outbox/"],
  ["conversations/"],
  ["routing/"],
  ["channel/"],
  ["listeners/", "data-protection/", "bank-webhooks/"],
  ["runtime.ts"],
];
const reEscape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const layerPath = (entries) => `^packages/core/src/(${entries.map(reEscape).join("|")})`;

// A new top-level entry in packages/core/src must be given a layer, or nothing would check it.
const coreEntries = fs
  .readdirSync(path.join(ROOT, "packages/core/src"), { withFileTypes: true })
  .map((e) => (e.isDirectory() ? `${e.name}/` : e.name));
const unlayered = coreEntries.filter((e) => !CORE_LAYERS.flat().includes(e));
if (unlayered.length > 0) {
  throw new Error(
    `packages/core/src/{${unlayered.join(",")}} is in no layer: add it to CORE_LAYERS in .dependency-cruiser.cjs`,
  );
}

const coreLayerRules = CORE_LAYERS.slice(0, -1).map((entries, level) => ({
  name: `core-layer-${level}`,
  comment: `packages/core layer ${level} (${entries.join(" ")}) must not import a higher layer (${CORE_LAYERS.slice(
    level + 1,
  )
    .flat()
    .join(" ")}); see README "Layout"`,
  severity: "error",
  from: { path: layerPath(entries) },
  to: { path: layerPath(CORE_LAYERS.slice(level + 1).flat()) },
}));

// --- Every workspace declares the @kanal/* packages it imports -----------------------------------------
// A workspace import resolves through the node_modules/@kanal symlink to a local file, so dependency-cruiser
// classifies it as "aliased-workspace"/"local" whether or not it is declared (its npm-no-pkg check covers
// registry packages only). The rules are therefore generated from the package.json files: importing another
// workspace by name needs it in "dependencies", or in "devDependencies" when only tests (and tooling) import it.
// The repository root is not a workspace; its test/, bench/ and scripts/ are exempt.
const workspaceDirs = [
  ...["apps", "packages"].flatMap((d) =>
    fs
      .readdirSync(path.join(ROOT, d), { withFileTypes: true })
      .filter((e) => e.isDirectory() && fs.existsSync(path.join(ROOT, d, e.name, "package.json")))
      .map((e) => `${d}/${e.name}`),
  ),
  "migrations",
];
const manifests = new Map(
  workspaceDirs.map((dir) => [
    dir,
    JSON.parse(fs.readFileSync(path.join(ROOT, dir, "package.json"), "utf8")),
  ]),
);
const dirOf = new Map([...manifests].map(([dir, pkg]) => [pkg.name, dir]));
const declared = (dir, field) =>
  Object.keys(manifests.get(dir)[field] ?? {})
    .filter((name) => dirOf.has(name))
    .map((name) => dirOf.get(name));

const workspaceDependencyRules = workspaceDirs.flatMap((dir) => {
  const others = workspaceDirs.filter((d) => d !== dir);
  const deps = declared(dir, "dependencies");
  const devDeps = declared(dir, "devDependencies");
  const undeclared = others.filter((d) => !deps.includes(d) && !devDeps.includes(d));
  const devOnly = devDeps.filter((d) => !deps.includes(d));
  const toAny = (dirs) => `^(${dirs.map(reEscape).join("|")})/`;
  const rules = [];
  if (undeclared.length > 0) {
    rules.push({
      name: `undeclared-workspace-dep:${dir}`,
      comment: `${dir} imports a @kanal package that its package.json does not declare: add it to "dependencies" (or "devDependencies" if only tests use it)`,
      severity: "error",
      from: { path: `^${reEscape(dir)}/` },
      to: { path: toAny(undeclared), dependencyTypes: ["aliased-workspace"] },
    });
  }
  if (devOnly.length > 0) {
    rules.push({
      name: `dev-only-workspace-dep:${dir}`,
      comment: `${dir}: code outside tests imports a @kanal package listed only in "devDependencies": move it to "dependencies"`,
      severity: "error",
      from: { path: `^${reEscape(dir)}/`, pathNot: [TEST, TOOLING] },
      to: { path: toAny(devOnly), dependencyTypes: ["aliased-workspace"] },
    });
  }
  return rules;
});

// Package entry points (package.json "exports" targets) are roots of the graph: nothing in the repo has to
// import them for them to be in use.
const targets = (exp) =>
  typeof exp === "string" ? [exp] : exp && typeof exp === "object" ? Object.values(exp).flatMap(targets) : [];
const entryPoints = [...manifests].flatMap(([dir, pkg]) =>
  targets(pkg.exports).map((t) => `^${reEscape(path.posix.join(dir, t))}$`),
);

// --- Rules ---------------------------------------------------------------------------------------------
const NODE_ONLY_NPM =
  "(^|/)node_modules/(pg|pg-[^/]+|kysely|ioredis|bullmq|pino|undici|lucia|stripe|hono|@hono|@node-rs|rate-limiter-flexible)/";

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment:
        "Import cycles are not allowed, in shipped code or in tests; break them by moving the shared part down",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "not-to-unresolvable",
      comment:
        "This import does not resolve to a file (a typo, a missing export in package.json, or an uninstalled package)",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: "no-orphans",
      comment: "This module is imported by nothing and imports nothing: delete it, or wire it in",
      severity: "error",
      from: {
        orphan: true,
        // phone/ is served to the browser as is
        pathNot: [TEST, TOOLING, "[.]d[.]ts$", "^apps/simulator/src/phone/", ...entryPoints],
      },
      to: {},
    },
    {
      name: "not-to-dev-dep",
      comment: "Shipped code imports a package that is only in devDependencies: move it to dependencies",
      severity: "error",
      from: { path: "^(apps|packages)/[^/]+/src/|^migrations/", pathNot: TEST },
      to: { dependencyTypes: ["npm-dev"] },
    },

    // Packages are libraries for the apps; they never import an app. Package tests may use the fakes.
    {
      name: "packages-not-to-apps",
      comment: "A package (or migrations) must not import an app",
      severity: "error",
      from: { path: "^(packages/[^/]+|migrations)/", pathNot: TEST },
      to: { path: "^apps/" },
    },
    {
      name: "package-tests-only-to-fakes",
      comment: "Package tests may use the simulator and stripe-fake, not the api, worker or web apps",
      severity: "error",
      from: { path: "^packages/[^/]+/test/" },
      to: { path: "^apps/(?!simulator/|stripe-fake/)" },
    },
    // Leaf packages.
    {
      name: "contracts-and-config-are-leaves",
      comment: "packages/contracts and packages/config import nothing from the workspace",
      severity: "error",
      from: { path: "^packages/(contracts|config)/", pathNot: TEST },
      to: { path: WORKSPACE, pathNot: "^packages/$1/" },
    },
    {
      name: "pure-packages-only-to-contracts",
      comment:
        "packages/routing and packages/rules are pure: from the workspace they import only @kanal/contracts",
      severity: "error",
      from: { path: "^packages/(routing|rules)/", pathNot: TEST },
      to: { path: WORKSPACE, pathNot: ["^packages/$1/", "^packages/contracts/"] },
    },
    {
      name: "pure-packages-no-node",
      comment:
        "packages/contracts, routing and rules are pure (contracts also runs in the browser): no Node built-ins",
      severity: "error",
      from: { path: "^packages/(contracts|routing|rules)/", pathNot: TEST },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "db-and-queue-only-to-contracts",
      comment: "packages/db and packages/queue import only @kanal/contracts from the workspace",
      severity: "error",
      from: { path: "^packages/(db|queue)/", pathNot: TEST },
      to: { path: WORKSPACE, pathNot: ["^packages/$1/", "^packages/contracts/"] },
    },
    {
      name: "migrations-only-to-db",
      comment: "Migrations import only @kanal/db (and @kanal/contracts) from the workspace",
      severity: "error",
      from: { path: "^migrations/", pathNot: TEST },
      to: { path: WORKSPACE, pathNot: ["^migrations/", "^packages/(db|contracts)/"] },
    },

    // Apps.
    {
      name: "apps-not-to-other-apps",
      comment: "An app does not import another app's code (tests under test/ and apps/*/test may)",
      severity: "error",
      from: { path: "^apps/([^/]+)/", pathNot: TEST },
      to: { path: "^apps/", pathNot: "^apps/$1/" },
    },
    {
      name: "web-only-to-contracts",
      comment: "The web console (browser) imports only @kanal/contracts from the workspace",
      severity: "error",
      from: { path: "^apps/web/src/" },
      to: { path: WORKSPACE, pathNot: ["^apps/web/", "^packages/contracts/"] },
    },
    {
      name: "web-no-node",
      comment: "The web console runs in the browser: no Node built-ins",
      severity: "error",
      from: { path: "^apps/web/src/" },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "web-no-server-libraries",
      comment:
        "The web console runs in the browser: no server libraries (database, Redis, queues, HTTP server)",
      severity: "error",
      from: { path: "^apps/web/src/" },
      to: { path: NODE_ONLY_NPM },
    },

    // A package is used through its package.json "exports" (`@kanal/core/conversations`), never through a
    // relative path into its files; only the package's own code and tests reach inside it.
    {
      name: "packages-only-through-exports",
      comment:
        "Import a package by its name and exports (e.g. @kanal/core/<domain>), not by a path into its src",
      severity: "error",
      from: { path: "^((?:apps|packages)/[^/]+|migrations|test|bench|scripts)/" },
      to: {
        path: "^(packages/[^/]+|migrations)/",
        pathNot: "^$1/",
        dependencyTypesNot: ["aliased-workspace"],
      },
    },

    ...coreLayerRules,
    ...workspaceDependencyRules,
  ],
  options: {
    parser: "swc",
    moduleSystems: ["es6", "cjs"],
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(apps|packages)/[^/]+/dist/" },
    // Merge package.json files from a module's folder up to the root, so npm-* classification sees the
    // workspace's own and the root's (devDependencies such as vitest) declarations.
    combinedDependencies: true,
    // Workspace packages are symlinks in node_modules/@kanal; follow them to the real files so an import of
    // @kanal/core/conversations is packages/core/src/conversations/index.ts and cycles across packages show.
    preserveSymlinks: false,
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".tsx", ".js", ".mjs", ".cjs", ".json"],
      mainFields: ["module", "main", "types", "typings"],
    },
    // tsConfig is not set on purpose: dependency-cruiser reads it with the TypeScript JS API, which TypeScript 7
    // lacks (it would be ignored), and tsconfig.json has no `paths` aliases to resolve.
  },
};
