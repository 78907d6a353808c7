// Headless Chromium with the repository served on localhost, for the browser bench tools:
// `const { page, base, close } = await openPage()` gives a fresh profile's first page at
// bench/browser/index.html (CHROMIUM: the browser binary, default /usr/bin/chromium).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { startServer } from '../../web/serve.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A browser context and server; `newPage()` opens the bench page in it. */
export async function openBrowser() {
  const server = await startServer({ port: 0, root: ROOT, models: join(ROOT, 'models') });
  const base = `http://127.0.0.1:${server.address().port}`;
  const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'wasm-chord-bench-')), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  const newPage = async () => {
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error(`pageerror: ${e.message}`));
    await page.goto(`${base}/bench/browser/index.html`);
    return page;
  };
  const close = async () => {
    await context.close();
    server.close();
  };
  return { context, newPage, close };
}
