// The console is served by Keyward at /console/. In development Vite serves it at
// http://localhost:5173/console/ and proxies Keyward's own paths to a local Keyward, which must run with
// KEYWARD_PUBLIC_URL=http://localhost:5173 so the provider's callback comes back through this proxy
// (the recipe in openapi/client/README.md). KEYWARD_PROXY_TARGET points the proxy at another Keyward than
// 127.0.0.1:8080, so the e2e suite can run one on a free port beside a developer's own.
import react from "@vitejs/plugin-react";
import { defineConfig, loadEnv } from "vite";

export default defineConfig(({ mode }) => {
  const keyward = loadEnv(mode, ".", "KEYWARD_").KEYWARD_PROXY_TARGET || "http://127.0.0.1:8080";
  return {
    base: "/console/",
    plugins: [react()],
    server: {
      port: 5173,
      strictPort: true,
      proxy: { "/auth": keyward, "/api": keyward, "/.well-known": keyward },
    },
    build: { outDir: "dist", emptyOutDir: true },
  };
});
