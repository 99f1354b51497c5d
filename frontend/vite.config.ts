import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// config.json is not bundled: it is written beside index.html at deploy time (amplify.yml)
// or served by `sdfleet up`, so one build serves every environment.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    reportCompressedSize: true,
  },
});
