// The demo page's logic (plain JS, no build step). Element ids are a stable contract for
// the browser tests: #model-choice #model-url #model-file #backend #load #progress
// #load-status #note #info #chat-template #prompt #generate #stop #reset #output #n-tokens
// #tps #ticker #error;
// body[data-state] is one of idle | loading | ready | generating | error.
import { WasmChord } from './wasm-chord.js';

const $ = (id) => document.getElementById(id);
const ui = {
  choice: $('model-choice'),
  url: $('model-url'),
  file: $('model-file'),
  cache: $('cache'),
  backend: $('backend'),
  note: $('note'),
  load: $('load'),
  clearCache: $('clear-cache'),
  progress: $('progress'),
  loadStatus: $('load-status'),
  info: $('info'),
  templateDetails: $('template-details'),
  chatTemplate: $('chat-template'),
  templateSource: $('chat-template-source'),
  prompt: $('prompt'),
  generate: $('generate'),
  stop: $('stop'),
  reset: $('reset'),
  output: $('output'),
  nTokens: $('n-tokens'),
  tps: $('tps'),
  promptTps: $('prompt-tps'),
  finish: $('finish'),
  ticker: $('ticker'),
  error: $('error'),
};

let engine = null;
let controller = null;
let conversation = [];

// A counter the main thread updates every frame: it keeps moving only if nothing blocks.
let ticks = 0;
const tick = () => {
  ui.ticker.textContent = String(++ticks);
  requestAnimationFrame(tick);
};
requestAnimationFrame(tick);
setInterval(() => {
  // rAF stops in background tabs; keep counting there too.
  if (document.hidden) ui.ticker.textContent = String(++ticks);
}, 100);

function setState(state) {
  document.body.dataset.state = state;
  const busy = state === 'loading' || state === 'generating';
  ui.load.disabled = busy;
  ui.file.disabled = busy;
  ui.generate.disabled = !engine || busy;
  ui.reset.disabled = !engine || busy;
  ui.stop.disabled = state !== 'generating';
}

function showError(err) {
  ui.error.textContent = err ? (err.message ?? String(err)) : '';
}

const mib = (n) => (n / 2 ** 20).toFixed(1);

// Marker strings of the common chat formats, to name the template a model file carries.
const TEMPLATE_FAMILIES = [
  ['ChatML', '<|im_start|>'],
  ['Gemma', '<start_of_turn>'],
  ['Llama 3', '<|start_header_id|>'],
  ['Llama 2 / Mistral', '[INST]'],
  ['Zephyr', '<|assistant|>'],
];

/** Which chat template the engine uses: the file's own (named by its format) or a built-in. */
function describeTemplate(info) {
  if (!info.chatTemplate) return 'none (chat mode is unavailable)';
  if (info.chatTemplateBuiltin) return `built-in "${info.chatTemplateBuiltin}" (the file has none)`;
  const family = TEMPLATE_FAMILIES.find(([, marker]) => info.chatTemplateSource?.includes(marker));
  return `${family ? family[0] : 'custom'}, from the model file`;
}

const DEFAULT_PROMPTS = {
  complete: 'The three primary colors are',
  chat: 'What are the three primary colors?',
};
const mode = () => document.querySelector('input[name=mode]:checked').value;

/** An untouched default prompt follows the mode (there are two). */
function promptFollows(next) {
  const prev = next === 'chat' ? 'complete' : 'chat';
  if (ui.prompt.value === DEFAULT_PROMPTS[prev]) ui.prompt.value = DEFAULT_PROMPTS[next];
}

function setMode(next) {
  document.querySelector(`input[name=mode][value=${next}]`).checked = true;
  promptFollows(next);
}

/** Shows `url` in the chooser: its entry when listed, else "other URL". */
function syncChoice(url) {
  const listed = [...ui.choice.options].some((o) => o.value && o.value === url);
  ui.choice.value = listed ? url : '';
}

async function load(source, label) {
  showError(null);
  controller?.abort();
  engine?.dispose();
  engine = null;
  conversation = [];
  ui.info.textContent = '';
  ui.note.textContent = '';
  ui.templateDetails.hidden = true;
  ui.progress.value = 0;
  ui.loadStatus.textContent = `Loading ${label}…`;
  setState('loading');
  const t0 = performance.now();
  try {
    engine = await WasmChord.load(source, {
      cache: ui.cache.checked,
      backend: ui.backend.value,
      onProgress: ({ loaded, total }) => {
        ui.progress.value = total ? loaded / total : 0;
        ui.loadStatus.textContent = `Loading ${label}: ${mib(loaded)} / ${mib(total)} MiB`;
      },
    });
    const info = await engine.info();
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    ui.progress.value = 1;
    ui.loadStatus.textContent = `Loaded ${label} in ${secs} s.`;
    const types = Object.entries(info.tensorTypes).map(([t, n]) => `${t}×${n}`).join(' ');
    ui.info.textContent =
      `${info.name ?? info.arch} (${info.arch}) · ${(info.nParams / 1e6).toFixed(0)}M params · ` +
      `${mib(info.fileBytes)} MiB · context ${info.nCtx} · ${types} · ` +
      (info.backend === 'webgpu'
        ? `WebGPU: ${[info.adapter?.vendor, info.adapter?.architecture].filter(Boolean).join(' ') || 'adapter'}`
        : `kernels: ${info.isa} (${info.variant} build)`);
    ui.note.textContent = engine.note ? `Note: ${engine.note}` : '';
    ui.chatTemplate.textContent = describeTemplate(info);
    ui.templateSource.textContent = info.chatTemplateSource ?? '';
    ui.templateDetails.hidden = false;
    // A file with its own template is an instruct model: start in chat mode.
    if (info.chatTemplate && !info.chatTemplateBuiltin) setMode('chat');
    window.demo.engine = engine;
    setState('ready');
  } catch (e) {
    engine = null;
    ui.loadStatus.textContent = `Could not load ${label}.`;
    showError(e);
    setState('error');
  }
}

function params() {
  const num = (el) => Number(el.value);
  return {
    maxTokens: num($('max-tokens')),
    temperature: num($('temperature')),
    topK: num($('top-k')),
    topP: num($('top-p')),
    minP: num($('min-p')),
    repeatPenalty: num($('repeat-penalty')),
    seed: num($('seed')),
  };
}

function appendSpan(cls, text) {
  const span = document.createElement('span');
  span.className = cls;
  span.textContent = text;
  ui.output.append(span);
  return span;
}

async function generate() {
  if (!engine) return;
  showError(null);
  const chat = mode() === 'chat';
  const prompt = ui.prompt.value;
  controller = new AbortController();
  let n = 0;
  let first = 0;
  const onToken = () => {
    ui.nTokens.textContent = String(++n);
    const now = performance.now();
    if (n === 1) first = now;
    else ui.tps.textContent = ((n - 1) / ((now - first) / 1000)).toFixed(1);
  };
  const opts = { ...params(), signal: controller.signal, onToken };
  let stream;
  if (chat) {
    conversation.push({ role: 'user', content: prompt });
    if (conversation.length > 1) ui.output.append('\n\n');
    else ui.output.textContent = '';
    appendSpan('role', 'user: ');
    appendSpan('prompt', prompt);
    ui.output.append('\n');
    appendSpan('role', 'model: ');
    stream = engine.chat(conversation, opts);
  } else {
    ui.output.textContent = '';
    appendSpan('prompt', prompt);
    stream = engine.generate(prompt, opts);
  }
  const out = appendSpan('answer', '');
  ui.nTokens.textContent = '0';
  ui.tps.textContent = '–';
  ui.finish.textContent = '';
  setState('generating');
  try {
    for await (const piece of stream) out.textContent += piece;
    const r = engine.lastResult;
    if (r) {
      ui.nTokens.textContent = String(r.tokens.length);
      const decode = r.tokens.length - 1;
      if (decode > 0 && r.stats.generateMs > 0) {
        ui.tps.textContent = (decode / (r.stats.generateMs / 1000)).toFixed(1);
      }
      if (r.stats.promptMs > 0) {
        ui.promptTps.textContent = (r.stats.promptTokens / (r.stats.promptMs / 1000)).toFixed(1);
      }
      ui.finish.textContent = `finished: ${r.finish}`;
      if (chat) conversation.push({ role: 'assistant', content: r.text });
    }
    setState('ready');
  } catch (e) {
    if (chat) conversation.pop();
    showError(e);
    setState(engine ? 'ready' : 'error');
  } finally {
    controller = null;
  }
}

ui.choice.addEventListener('change', () => {
  if (ui.choice.value) ui.url.value = ui.choice.value;
  else ui.url.select();
});
ui.url.addEventListener('input', () => syncChoice(ui.url.value.trim()));
for (const radio of document.querySelectorAll('input[name=mode]')) {
  radio.addEventListener('change', () => radio.checked && promptFollows(radio.value));
}
ui.load.addEventListener('click', () => {
  const url = ui.url.value.trim();
  if (!url) return;
  ui.file.value = '';
  load(url, url.split('/').pop());
});
ui.file.addEventListener('change', () => {
  const f = ui.file.files?.[0];
  if (f) load(f, f.name);
});
ui.clearCache.addEventListener('click', async () => {
  await WasmChord.clearCache();
  ui.loadStatus.textContent = 'Cache cleared.';
});
ui.generate.addEventListener('click', generate);
ui.stop.addEventListener('click', () => controller?.abort());
ui.reset.addEventListener('click', async () => {
  conversation = [];
  ui.output.textContent = '';
  await engine?.reset();
});
ui.prompt.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && !ui.generate.disabled) generate();
});

// ?model=URL presets the URL; &autoload loads it at once.
const query = new URLSearchParams(location.search);
if (query.get('model')) ui.url.value = query.get('model');
syncChoice(ui.url.value);
window.demo = { WasmChord, engine: null, load: (src) => load(src, String(src)) };
setState('idle');
if (query.has('autoload')) ui.load.click();
