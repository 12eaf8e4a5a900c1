import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const apiTarget = "http://127.0.0.1:3000";

// Vite requires a default export for its config file.
export default defineConfig({
  plugins: [react()],
  server: {
    port: 5173,
    proxy: {
      // SSE needs the proxy not to buffer; http-proxy streams by default.
      "/v1": { target: apiTarget, changeOrigin: false },
      "/webhooks": { target: apiTarget, changeOrigin: false },
    },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // The strict CSP forbids inline scripts; keep every asset a separate file.
    assetsInlineLimit: 0,
    sourcemap: false,
    target: "es2022",
  },
});
