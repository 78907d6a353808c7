// Browser end-to-end test of the demo page (web/index.html) in headless Debian Chromium,
// driven by playwright-core (no Playwright-downloaded browser):
//   1. loads Gemma 3 270M over HTTP, generates 16 greedy tokens and checks the streamed
//      text equals the native CLI's, while the main-thread #ticker keeps advancing;
//      a screenshot goes to web/e2e/out/generate.png;
//   2. the Stop button ends a long generation promptly (finish: cancelled);
//   3. a truncated GGUF (file picker) and a bad-magic GGUF (URL) show a readable #error
//      within a few seconds.
//
//   scripts/test-e2e.sh    (installs/builds what is missing, then runs this file)
// Env: E2E_BASE_URL (the server, required), CHROMIUM (default /usr/bin/chromium),
//      WASM_CHORD_CLI (native binary), NATIVE_ISA (kernel table of the native run,
//      default scalar: the summation order the wasm builds match), E2E_MODEL (path under
//      the repo's models/, default gemma-3-270m-q4_k_m.gguf).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const OUT = join(HERE, 'out');
const BASE = process.env.E2E_BASE_URL;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const CLI = process.env.WASM_CHORD_CLI ?? join(ROOT, 'target', 'release', 'wasm-chord');
const NATIVE_ISA = process.env.NATIVE_ISA ?? 'scalar';
const MODEL = process.env.E2E_MODEL ?? 'gemma-3-270m-q4_k_m.gguf';
const PROMPT = 'The capital of France is';
const N = 16;

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The native CLI's greedy continuation (stdout is exactly the generated text). */
function nativeText() {
  const r = spawnSync(
    CLI,
    ['run', '-m', join(ROOT, 'models', MODEL), '-p', PROMPT, '-n', String(N), '--temp', '0'],
    { encoding: 'utf8', env: { ...process.env, WASM_CHORD_ISA: NATIVE_ISA } },
  );
  assert.equal(r.status, 0, `native CLI failed: ${r.stderr}`);
  return r.stdout;
}

/** Where two strings first differ, with a little context, for a readable failure. */
function divergence(a, b) {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const ctx = (s) => JSON.stringify(s.slice(Math.max(0, i - 30), i + 30));
  return `first difference at char ${i}: browser ${ctx(a)} vs native ${ctx(b)}`;
}

/** Waits until body[data-state] is one of `states`; returns it. */
async function waitState(page, states, timeout) {
  await page.waitForFunction((s) => s.includes(document.body.dataset.state), states, { timeout });
  return page.evaluate(() => document.body.dataset.state);
}

const ticker = (page) => page.$eval('#ticker', (e) => Number(e.textContent));

describe('demo page in headless Chromium', () => {
  let context;
  let page;
  let profile;
  const consoleLines = [];

  before(async () => {
    assert.ok(BASE, 'E2E_BASE_URL must point at the demo server (scripts/test-e2e.sh sets it)');
    mkdirSync(OUT, { recursive: true });
    profile = mkdtempSync(join(tmpdir(), 'wasm-chord-e2e-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1000, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    await page.goto(`${BASE}/index.html`);
  });

  after(async () => {
    if (consoleLines.length) console.log(`browser console:\n${consoleLines.join('\n')}`);
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  test('Gemma 3 270M: 16 greedy tokens equal the native CLI, main thread never blocked', async () => {
    const expected = nativeText();
    await page.fill('#model-url', `models/${MODEL}`);
    const t0 = Date.now();
    await page.click('#load');
    const loaded = await waitState(page, ['ready', 'error'], 180_000);
    assert.equal(loaded, 'ready', `load failed: ${await page.textContent('#error')}`);
    console.log(`# load: ${Date.now() - t0} ms; ${await page.textContent('#info')}`);

    await page.fill('#prompt', PROMPT);
    await page.fill('#max-tokens', String(N));
    await page.fill('#temperature', '0');
    await page.fill('#repeat-penalty', '1');
    await page.click('#generate');
    await waitState(page, ['generating', 'ready'], 10_000);
    // Sample the ticker while the worker computes: it must move between samples.
    const samples = [await ticker(page)];
    const t1 = Date.now();
    while ((await page.evaluate(() => document.body.dataset.state)) === 'generating') {
      await page.waitForTimeout(250);
      samples.push(await ticker(page));
      assert.ok(Date.now() - t1 < 300_000, 'generation did not finish in 300 s');
    }
    const ms = Date.now() - t1;
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'ready');
    assert.equal(await page.textContent('#error'), '');
    const text = await page.$eval('#output .answer', (e) => e.textContent);
    const finish = await page.textContent('#finish');
    const result = await page.evaluate(() => window.demo.engine.lastResult);
    console.log(`# generate: ${ms} ms, ${finish}, tokens ${JSON.stringify(result.tokens)}`);
    console.log(`# browser: ${JSON.stringify(text)}\n# native:  ${JSON.stringify(expected)}`);
    console.log(`# ticker samples: ${samples.join(' ')}`);
    await page.screenshot({ path: join(OUT, 'generate.png'), fullPage: true });

    assert.equal(result.tokens.length, N, `expected ${N} tokens, got ${result.tokens.length}`);
    assert.equal(text, expected, divergence(text, expected));
    const last = samples.at(-1);
    assert.ok(last > samples[0], `#ticker did not advance (${samples.join(' ')})`);
    // Never frozen: with >= 3 samples, no two consecutive samples (250 ms apart) are equal.
    for (let i = 1; i < samples.length; i++) {
      assert.ok(samples[i] > samples[i - 1], `#ticker stalled between samples ${i - 1} and ${i}`);
    }
  });

  test('Stop button ends a long generation promptly', async () => {
    await page.fill('#max-tokens', '1000');
    await page.click('#generate');
    await page.waitForFunction(() => Number(document.querySelector('#n-tokens').textContent) >= 3, null, {
      timeout: 60_000,
    });
    const t0 = Date.now();
    await page.click('#stop');
    await waitState(page, ['ready'], 5_000);
    const ms = Date.now() - t0;
    const finish = await page.textContent('#finish');
    const n = Number(await page.textContent('#n-tokens'));
    console.log(`# stop: ready ${ms} ms after the click, ${n} tokens, ${finish}`);
    assert.match(finish, /cancelled/);
    assert.ok(n < 1000, `generation ran to the end (${n} tokens)`);
    assert.ok(ms < 2_000, `stop took ${ms} ms`);
  });

  test('truncated GGUF from the file picker: readable #error, no hang', async () => {
    const tiny = readFileSync(join(ROOT, 'tests', 'fixtures', 'models', 'tiny-q4_k_m.gguf'));
    const truncated = join(OUT, 'truncated.gguf');
    writeFileSync(truncated, tiny.subarray(0, Math.floor(tiny.length / 2)));
    const t0 = Date.now();
    await page.setInputFiles('#model-file', truncated);
    const state = await waitState(page, ['error', 'ready'], 10_000);
    const error = await page.textContent('#error');
    console.log(`# truncated: ${Date.now() - t0} ms, state ${state}, error ${JSON.stringify(error)}`);
    assert.equal(state, 'error');
    assert.match(error, /model file|gguf|truncat|unexpected end/i);
    await page.screenshot({ path: join(OUT, 'truncated.png') });
  });

  test('bad-magic GGUF by URL: readable #error, no hang', async () => {
    const bad = readFileSync(join(ROOT, 'tests', 'fixtures', 'malformed', 'bad_magic.gguf'));
    writeFileSync(join(OUT, 'bad_magic.gguf'), bad);
    await page.fill('#model-url', 'e2e/out/bad_magic.gguf');
    const t0 = Date.now();
    await page.click('#load');
    const state = await waitState(page, ['error', 'ready'], 10_000);
    const error = await page.textContent('#error');
    console.log(`# bad magic: ${Date.now() - t0} ms, state ${state}, error ${JSON.stringify(error)}`);
    assert.equal(state, 'error');
    assert.match(error, /magic|model file|gguf/i);
  });
});
