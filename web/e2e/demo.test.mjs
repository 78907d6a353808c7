// Browser end-to-end test of the demo page (web/index.html) in headless Debian Chromium,
// driven by playwright-core (no Playwright-downloaded browser):
//   1. loads Gemma 3 270M over HTTP, generates 16 greedy tokens and checks the streamed
//      text equals the native CLI's, while the main-thread #ticker keeps advancing;
//      a screenshot goes to web/e2e/out/generate.png;
//   2. the Stop button ends a long generation promptly (finish: cancelled);
//   3. a truncated GGUF (file picker) and a bad-magic GGUF (URL) show a readable #error
//      within a few seconds;
//   4. SmolLM2-135M-Instruct, picked in #model-choice and loaded by URL, chats two greedy
//      turns with its own ChatML template (shown in #chat-template): each reply ends at
//      <|im_end|> (finish: eog) and the transcript equals the native `wasm-chord chat`'s;
//      a screenshot goes to web/e2e/out/chat.png;
//   5. the same file from the file picker gives the same first reply.
//   E2E_CHAT_MODELS="smollm2 qwen" runs 4 on Qwen2.5-Coder-0.5B-Instruct too (491 MB, slow).
//
//   scripts/test-e2e.sh    (installs/builds what is missing, then runs this file)
// Env: E2E_BASE_URL (the server, required), CHROMIUM (default /usr/bin/chromium),
//      WASM_CHORD_CLI (native binary), NATIVE_ISA (kernel table of the native run,
//      default scalar: the summation order the wasm builds match), E2E_MODEL (path under
//      the repo's models/, default gemma-3-270m-q4_k_m.gguf), E2E_CHAT_MODELS (keys of
//      CHAT_MODELS, default smollm2). A missing chat model skips its tests, or fails them
//      when CI is set.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { BASE, CHROMIUM, CLI, NATIVE_ISA, OUT, ROOT } from './env.mjs';

const MODEL = process.env.E2E_MODEL ?? 'gemma-3-270m-q4_k_m.gguf';
const PROMPT = 'The capital of France is';
const N = 16;

// Instruct models with their own chat template, as listed in #model-choice; `fetch` is
// the scripts/fetch-model.sh name. Both templates are ChatML ending a turn with <|im_end|>.
const CHAT_MODELS = {
  smollm2: {
    file: 'smollm2-135m-instruct-q4_1.gguf',
    fetch: 'smollm2-135m',
    template: /^ChatML, from the model file$/,
  },
  qwen: {
    file: 'qwen2.5-coder-0.5b-instruct-q4_k_m.gguf',
    fetch: 'qwen2.5-coder-0.5b',
    template: /^ChatML, from the model file$/,
  },
};
const CHAT_KEYS = (process.env.E2E_CHAT_MODELS ?? 'smollm2').split(/\s+/).filter(Boolean);
// Two turns, the second one following the first in the conversation; short greedy replies
// that end with the end-of-turn token well before CHAT_MAX_TOKENS (longer ones can part
// from the scalar CLI at a near tie: web/README.md, "Matching native output").
const CHAT_TURNS = ['What is 2+2?', 'And what is 3+3?'];
const CHAT_MAX_TOKENS = 48;

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

/**
 * The native CLI's greedy `chat` over CHAT_TURNS (stdout: each reply then a line break),
 * with the file's own template, as the page's chat mode does.
 */
function nativeChat(file, turns) {
  const r = spawnSync(
    CLI,
    ['chat', '-m', join(ROOT, 'models', file), '-n', String(CHAT_MAX_TOKENS), '--temp', '0'],
    {
      encoding: 'utf8',
      input: turns.map((t) => `${t}\n`).join(''),
      env: { ...process.env, WASM_CHORD_ISA: NATIVE_ISA },
    },
  );
  assert.equal(r.status, 0, `native CLI chat failed: ${r.stderr}`);
  return r.stdout;
}

/** Whether models/`file` is there; when not, skips the test `t` (fails it when CI is set). */
function haveModel(t, { file, fetch }) {
  if (existsSync(join(ROOT, 'models', file))) return true;
  const why = `models/${file} is missing (scripts/fetch-model.sh ${fetch})`;
  assert.ok(!process.env.CI, why);
  t.skip(why);
  return false;
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

/** Waits for a load started on the page; fails with the page's #error. */
async function waitLoaded(page) {
  const state = await waitState(page, ['ready', 'error'], 180_000);
  assert.equal(state, 'ready', `load failed: ${await page.textContent('#error')}`);
}

/** Fills the prompt and greedy settings, clicks Generate and waits until it has started. */
async function startGreedy(page, prompt, maxTokens) {
  await page.fill('#prompt', prompt);
  await page.fill('#max-tokens', String(maxTokens));
  await page.fill('#temperature', '0');
  await page.fill('#repeat-penalty', '1');
  await page.click('#generate');
  await waitState(page, ['generating', 'ready'], 10_000);
}

/** Sends `message` in chat mode with greedy sampling; returns the reply and lastResult. */
async function chatTurn(page, message) {
  assert.ok(await page.isChecked('input[name=mode][value=chat]'), 'chat mode is not selected');
  await startGreedy(page, message, CHAT_MAX_TOKENS);
  assert.equal(await waitState(page, ['ready'], 120_000), 'ready');
  assert.equal(await page.textContent('#error'), '');
  const replies = await page.$$eval('#output .answer', (els) => els.map((e) => e.textContent));
  const result = await page.evaluate(() => window.demo.engine.lastResult);
  assert.equal(replies.at(-1), result.text);
  return { reply: result.text, result };
}

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
    await waitLoaded(page);
    console.log(`# load: ${Date.now() - t0} ms; ${await page.textContent('#info')}`);
    // The base model's file has no template: chat mode would use the built-in one.
    assert.equal(await page.textContent('#chat-template'), 'built-in "gemma" (the file has none)');
    assert.ok(await page.isChecked('input[name=mode][value=complete]'));

    await startGreedy(page, PROMPT, N);
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

  for (const key of CHAT_KEYS) {
    const model = CHAT_MODELS[key];
    assert.ok(model, `E2E_CHAT_MODELS: unknown model ${key} (${Object.keys(CHAT_MODELS).join(', ')})`);
    test(`${model.file} from #model-choice: greedy chat with its own template equals the native CLI`, async (t) => {
      if (!haveModel(t, model)) return;
      const expected = nativeChat(model.file, CHAT_TURNS);
      await page.selectOption('#model-choice', `models/${model.file}`);
      assert.equal(await page.inputValue('#model-url'), `models/${model.file}`);
      const t0 = Date.now();
      await page.click('#load');
      await waitLoaded(page);
      const template = await page.textContent('#chat-template');
      console.log(
        `# ${key} load: ${Date.now() - t0} ms; ${await page.textContent('#info')}; template: ${template}`,
      );
      assert.match(template, model.template);
      assert.match(await page.textContent('#chat-template-source'), /<\|im_start\|>/);

      let transcript = '';
      for (const message of CHAT_TURNS) {
        const t1 = Date.now();
        const { reply, result } = await chatTurn(page, message);
        console.log(
          `# ${key} turn: ${Date.now() - t1} ms, ${result.finish}, ${result.tokens.length} tokens: ${JSON.stringify(reply)}`,
        );
        // The end-of-turn token ended the reply, and no template marker leaked into it.
        assert.equal(result.finish, 'eog', `reply did not end with <|im_end|>: ${JSON.stringify(reply)}`);
        assert.doesNotMatch(reply, /<\|im_(start|end)\|>|<\|endoftext\|>/);
        assert.ok(reply.trim().length > 0, 'empty reply');
        transcript += `${reply}\n`;
      }
      await page.screenshot({ path: join(OUT, `chat-${key}.png`), fullPage: true });
      console.log(`# browser: ${JSON.stringify(transcript)}\n# native:  ${JSON.stringify(expected)}`);
      assert.equal(transcript, expected, divergence(transcript, expected));
    });
  }

  test('SmolLM2 from the file picker: the same first reply', async (t) => {
    const model = CHAT_MODELS.smollm2;
    if (!haveModel(t, model)) return;
    const expected = nativeChat(model.file, CHAT_TURNS.slice(0, 1));
    const t0 = Date.now();
    await page.setInputFiles('#model-file', join(ROOT, 'models', model.file));
    await waitLoaded(page);
    console.log(`# file picker load: ${Date.now() - t0} ms`);
    const status = await page.textContent('#load-status');
    assert.ok(status.startsWith(`Loaded ${model.file} `), status);
    assert.match(await page.textContent('#chat-template'), model.template);
    const { reply, result } = await chatTurn(page, CHAT_TURNS[0]);
    assert.equal(result.finish, 'eog');
    assert.equal(`${reply}\n`, expected, divergence(`${reply}\n`, expected));
  });
});
