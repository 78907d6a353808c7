// Browser end-to-end test of the WebGPU backend (issue 18), in headless Debian Chromium
// driven by playwright-core:
//   1. with WebGPU on SwiftShader (--enable-unsafe-webgpu --use-webgpu-adapter=swiftshader):
//      WasmChord.load(Gemma 3 270M, { backend: 'webgpu' }); info() names the WebGPU
//      adapter (architecture swiftshader) and, after generating, dispatchesPerToken > 0;
//      16 greedy tokens equal the native CPU run's (fixtures/gemma-3-270m-greedy.json,
//      checked against the native CLI's text) up to the first near-tie (a step whose CPU
//      top-2 logit margin is below 0.05, as crates/gpu/tests/model_parity.rs);
//   2. without WebGPU (Chromium without those flags, as the demo test runs it): the demo
//      page's backend 'auto' loads on the CPU and shows the note in #note; 'webgpu' shows
//      a readable #error.
//
//   scripts/test-e2e.sh    (installs/builds what is missing, then runs this file too)
// Env: E2E_BASE_URL (the server, required), CHROMIUM (default /usr/bin/chromium),
//      WASM_CHORD_CLI (native binary), NATIVE_ISA (default scalar: the fixture's kernels).
// Missing WebGPU in the flagged browser fails the test (there is no skip).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { BASE, CHROMIUM, CLI, HERE, NATIVE_ISA, OUT, ROOT } from './env.mjs';

const FIXTURE = JSON.parse(readFileSync(join(HERE, 'fixtures', 'gemma-3-270m-greedy.json'), 'utf8'));
/** Margin below which a step is a near-tie: the GPU may part from the CPU there. */
const TIE = 0.05;

const COMMON_ARGS = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const WEBGPU_ARGS = [
  ...COMMON_ARGS,
  '--disable-gpu-sandbox',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--enable-features=Vulkan',
];
const NO_WEBGPU_ARGS = [...COMMON_ARGS, '--disable-gpu'];

/** The native CLI's greedy text of the fixture's prompt (the fixture must be current). */
function nativeText() {
  const r = spawnSync(
    CLI,
    ['run', '-m', join(ROOT, 'models', FIXTURE.model), '-p', FIXTURE.prompt, '-n', String(FIXTURE.ids.length), '--temp', '0'],
    { encoding: 'utf8', env: { ...process.env, WASM_CHORD_ISA: NATIVE_ISA } },
  );
  assert.equal(r.status, 0, `native CLI failed: ${r.stderr}`);
  return r.stdout;
}

async function launch(args) {
  const profile = mkdtempSync(join(tmpdir(), 'wasm-chord-webgpu-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args,
    viewport: { width: 1000, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const lines = [];
  page.on('console', (m) => lines.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => lines.push(`[pageerror] ${e.message}`));
  page.on('worker', (w) => w.on('console', (m) => lines.push(`[worker ${m.type()}] ${m.text()}`)));
  await page.goto(`${BASE}/index.html`);
  return { context, page, lines, profile };
}

async function close(b) {
  if (!b) return;
  if (b.lines.length) console.log(`browser console:\n${b.lines.join('\n')}`);
  await b.context.close();
  rmSync(b.profile, { recursive: true, force: true });
}

describe('WebGPU backend in headless Chromium', () => {
  let gpu;
  before(async () => {
    assert.ok(BASE, 'E2E_BASE_URL must point at the demo server (scripts/test-e2e.sh sets it)');
    mkdirSync(OUT, { recursive: true });
    gpu = await launch(WEBGPU_ARGS);
  });
  after(() => close(gpu));

  test('Gemma 3 270M on SwiftShader WebGPU: 16 greedy tokens equal the native CPU run up to a near-tie', async () => {
    assert.equal(FIXTURE.text, nativeText(), 'the fixture is not the native CLI run (regenerate it)');
    const t0 = Date.now();
    const r = await gpu.page.evaluate(
      async ({ model, prompt, n }) => {
        const { WasmChord } = await import('./wasm-chord.js');
        const t = performance.now();
        const engine = await WasmChord.load(`models/${model}`, { backend: 'webgpu', nCtx: 256 });
        const loadMs = performance.now() - t;
        const before = await engine.info();
        const t1 = performance.now();
        let text = '';
        for await (const piece of engine.generate(prompt, { maxTokens: n, temperature: 0, repeatPenalty: 1 })) {
          text += piece;
        }
        const genMs = performance.now() - t1;
        const info = await engine.info();
        const result = engine.lastResult;
        engine.dispose();
        return { loadMs, genMs, before, info, text, result };
      },
      { model: FIXTURE.model, prompt: FIXTURE.prompt, n: FIXTURE.ids.length },
    );
    const { info, result } = r;
    console.log(
      `# webgpu: load ${r.loadMs.toFixed(0)} ms, generate ${r.genMs.toFixed(0)} ms ` +
        `(prompt ${result.stats.promptMs.toFixed(0)} ms, ${result.stats.genTokPerS.toFixed(2)} tok/s), ` +
        `total ${Date.now() - t0} ms; adapter ${JSON.stringify(info.adapter)}; ` +
        `dispatchesPerToken ${info.dispatchesPerToken}`,
    );
    console.log(`# browser: ${JSON.stringify(result.tokens)} ${JSON.stringify(r.text)}`);
    console.log(`# native:  ${JSON.stringify(FIXTURE.ids)} ${JSON.stringify(FIXTURE.text)}`);

    assert.equal(r.before.backend, 'webgpu');
    assert.equal(info.backend, 'webgpu');
    assert.match(info.adapter?.architecture ?? '', /swiftshader/i, JSON.stringify(info.adapter));
    assert.ok(info.adapter.vendor, `no adapter vendor: ${JSON.stringify(info.adapter)}`);
    assert.ok(info.dispatchesPerToken > 0, `dispatchesPerToken ${info.dispatchesPerToken}`);
    assert.equal(result.tokens.length, FIXTURE.ids.length, `finish ${result.finish}`);

    const tie = FIXTURE.margins.findIndex((m) => m < TIE);
    const compared = tie < 0 ? FIXTURE.ids.length : tie;
    console.log(`# compared ${compared} tokens (first near-tie: ${tie < 0 ? 'none' : `step ${tie}`})`);
    assert.deepEqual(result.tokens.slice(0, compared), FIXTURE.ids.slice(0, compared));
    if (compared === FIXTURE.ids.length) assert.equal(r.text, FIXTURE.text);
  });
});

describe('without WebGPU', () => {
  let cpu;
  before(async () => {
    assert.ok(BASE, 'E2E_BASE_URL must point at the demo server (scripts/test-e2e.sh sets it)');
    mkdirSync(OUT, { recursive: true });
    copyFileSync(join(ROOT, 'tests', 'fixtures', 'models', 'tiny-q4_k_m.gguf'), join(OUT, 'tiny.gguf'));
    cpu = await launch(NO_WEBGPU_ARGS);
  });
  after(() => close(cpu));

  /** Loads the tiny model through the demo page on `backend`; the state it ends in. */
  async function loadOn(page, backend) {
    await page.selectOption('#backend', backend);
    await page.fill('#model-url', 'e2e/out/tiny.gguf');
    await page.click('#load');
    await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, {
      timeout: 60_000,
    });
    return page.evaluate(() => document.body.dataset.state);
  }

  test("backend 'auto' runs on the CPU with a visible note", async () => {
    const { page } = cpu;
    const state = await loadOn(page, 'auto');
    assert.equal(state, 'ready', await page.textContent('#error'));
    const note = await page.textContent('#note');
    const info = await page.evaluate(() => window.demo.engine.info());
    console.log(`# auto: note ${JSON.stringify(note)}; backend ${info.backend}`);
    assert.equal(info.backend, 'cpu');
    assert.equal(info.dispatchesPerToken, 0);
    assert.match(note, /WebGPU/);
    assert.match(info.note, /running on the CPU/);
    assert.ok(cpu.lines.some((l) => l.startsWith('[warning]') && /WebGPU/.test(l)), 'no console warning');
  });

  test("backend 'webgpu' is a readable error", async () => {
    const { page } = cpu;
    const t0 = Date.now();
    const state = await loadOn(page, 'webgpu');
    const error = await page.textContent('#error');
    console.log(`# webgpu without WebGPU: ${Date.now() - t0} ms, ${JSON.stringify(error)}`);
    assert.equal(state, 'error');
    assert.match(error, /backend 'webgpu': WebGPU .*(navigator\.gpu|adapter)/);
  });
});
