/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// The build is committed (dist/ is embedded into the Go binary) and CI
// rebuilds it and compares, so the output must not depend on the machine or
// the time: no sourcemaps with absolute paths, no build stamps.
const backend = process.env.REGICAM_URL ?? 'http://localhost:8080';

export default defineConfig({
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    modulePreload: { polyfill: false },
  },
  server: {
    // `npm run dev` against a running `go run .` (REGICAM_URL, default :8080).
    proxy: {
      '/graphql': { target: backend, ws: true },
      '/thumbnails': backend,
      '/cameras': backend,
      '/entries': backend,
      '/share': backend,
      '/cases': backend,
      '/oauth': backend,
    },
  },
  test: {
    environment: 'happy-dom',
    include: ['test/**/*.test.{ts,tsx}'],
    setupFiles: ['test/setup.ts'],
  },
});
