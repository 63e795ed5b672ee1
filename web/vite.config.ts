/**
 * Vite config of the browser demo (root: web/). `npm run build:web` = `aura web-assets` (generated
 * files in web/public) + `vite build web` (static site in web/dist, relative URLs: base "./").
 *
 * The page imports the library source (../src) directly. A few library modules import Node
 * built-ins at top level for Node-only helpers (src/wasm/runtime.ts: loadKernels reads
 * build/aura.wasm; src/io/safetensors.ts: file I/O); the page never calls those helpers, so the
 * built-ins are aliased to a stub that throws if called (src/node-stub.ts).
 *
 * The bundle is one classic (non-module) script so that the built index.html also works when
 * opened straight from disk (file://), where browsers refuse module scripts; generated data
 * (kernels, checkpoint, samples) come in as public/bundle-data.js for the same reason.
 */
import { defineConfig, type Plugin } from "vite";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const stub = fileURLToPath(new URL("./src/node-stub.ts", import.meta.url));

/** Turn Vite's `<script type="module" crossorigin>` into a deferred classic script, and drop `crossorigin` (file:// support). */
function classicScript(): Plugin {
  return {
    name: "aura-classic-script",
    apply: "build",
    enforce: "post",
    transformIndexHtml(html) {
      return html
        .replace(/<script type="module" crossorigin src="([^"]+)"><\/script>/g, '<script defer src="$1"></script>')
        .replace(/<link rel="stylesheet" crossorigin href=/g, '<link rel="stylesheet" href=');
    },
  };
}

export default defineConfig({
  root: here,
  base: "./",
  publicDir: "public",
  // import.meta.url only feeds the Node-only path helpers (never called here); iife has no import.meta
  define: { "import.meta.url": JSON.stringify("file:///aura-mem-browser/") },
  resolve: {
    alias: [{ find: /^node:(fs|fs\/promises|path|url|crypto)$/, replacement: stub }],
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    modulePreload: false,
    cssCodeSplit: false,
    chunkSizeWarningLimit: 4000,
    rollupOptions: {
      output: { format: "iife" },
    },
  },
  plugins: [classicScript()],
  server: { fs: { allow: [".."] } },
  logLevel: "warn",
});
