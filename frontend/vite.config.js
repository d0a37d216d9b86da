import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The built app lands in dist/app, which frontend/embed.go embeds into the Go
// binaries. dist/README.md stays committed so the embed compiles before the
// first build.
export default defineConfig({
  plugins: [svelte()],
  build: { outDir: 'dist/app', emptyOutDir: true },
  server: { proxy: { '/api': { target: 'http://127.0.0.1:8000', ws: true } } },
  resolve: process.env.VITEST ? { conditions: ['browser'] } : undefined,
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.js'],
  },
});
