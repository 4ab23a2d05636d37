// The console is served by Keyward at /console/. In development Vite serves it at
// http://localhost:5173/console/ and proxies Keyward's own paths to a local Keyward, which must run with
// KEYWARD_PUBLIC_URL=http://localhost:5173 so the provider's callback comes back through this proxy
// (the recipe in openapi/client/README.md, used here unchanged).
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const keyward = "http://127.0.0.1:8080";

export default defineConfig({
  base: "/console/",
  plugins: [react()],
  server: {
    port: 5173,
    strictPort: true,
    proxy: { "/auth": keyward, "/api": keyward, "/.well-known": keyward },
  },
  build: { outDir: "dist", emptyOutDir: true },
});
