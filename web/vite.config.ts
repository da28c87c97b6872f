import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// `npm run dev` proxies the API and the live channel to a local server
// (TASKFLOW_DEV_SERVER, default http://127.0.0.1:8000), so the app stays same-origin.
const devServer = process.env.TASKFLOW_DEV_SERVER ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      "/api": { target: devServer, changeOrigin: false },
      "/socket.io": { target: devServer, ws: true, changeOrigin: false },
    },
  },
  build: {
    outDir: "dist",
    sourcemap: true,
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
