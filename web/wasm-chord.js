// wasm-chord: run GGUF language models in the browser. ES module, main-thread side: every
// call is forwarded to a module worker (worker.js), which owns the wasm engine.
//
//   const engine = await WasmChord.load('models/gemma-3-270m-q4_k_m.gguf', { onProgress });
//   for await (const piece of engine.generate('Once upon a time', { maxTokens: 64 })) out += piece;
//
// See README.md for the full API and wasm-chord.d.ts for the types.

import { bestVariant, CACHE_NAME, relaxedSimdSupported, simdSupported } from './core.js';

const GENERATE_KEYS = [
  'maxTokens',
  'temperature',
  'topK',
  'topP',
  'minP',
  'repeatPenalty',
  'penaltyLastN',
  'seed',
  'stop',
  'special',
];
const LOAD_KEYS = ['nCtx', 'nBatch', 'cacheType', 'chatTemplate', 'repack', 'backend'];

function pick(opts, keys) {
  const out = {};
  for (const k of keys) if (opts[k] !== undefined && opts[k] !== null) out[k] = opts[k];
  if (typeof out.stop === 'string') out.stop = [out.stop];
  return out;
}

function toSource(source) {
  if (typeof source === 'string' || source instanceof URL) {
    const base = typeof location !== 'undefined' ? location.href : undefined;
    return { source: { url: new URL(source, base).href }, transfer: [] };
  }
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    return { source: { blob: source }, transfer: [] };
  }
  if (source instanceof ArrayBuffer) {
    return { source: { buffer: source }, transfer: [source] };
  }
  if (ArrayBuffer.isView(source)) {
    const copy = source.buffer.slice(source.byteOffset, source.byteOffset + source.byteLength);
    return { source: { buffer: copy }, transfer: [copy] };
  }
  throw new TypeError('WasmChord.load: source must be a URL string, URL, File, Blob or ArrayBuffer');
}

export class WasmChord {
  /** Whether this browser runs wasm SIMD (then a simd128 build is used). */
  static simdSupported() {
    return simdSupported();
  }

  /** Whether this browser also runs relaxed SIMD (then the relaxed build is used). */
  static relaxedSimdSupported() {
    return relaxedSimdSupported();
  }

  /** Whether this context exposes WebGPU at all (`navigator.gpu`; an adapter may still be missing). */
  static webgpuAvailable() {
    return typeof navigator !== 'undefined' && Boolean(navigator.gpu);
  }

  /**
   * Starts a worker, downloads (or reads) the model into its wasm memory and prepares a
   * session. Rejects with the engine's message if the file is invalid or too large.
   * `options.backend`: 'cpu' (default), 'webgpu' (rejects when WebGPU or an adapter is
   * missing) or 'auto' (WebGPU on a hardware adapter, else the CPU with `engine.note`
   * saying why, also logged as a console warning).
   */
  static async load(source, options = {}) {
    const { source: src, transfer } = toSource(source);
    const variant = options.variant ?? bestVariant();
    const workerUrl = options.workerUrl ?? new URL('./worker.js', import.meta.url);
    const engine = new WasmChord(new Worker(workerUrl, { type: 'module' }));
    const signal = options.signal;
    const onAbort = () => engine._fail(new DOMException('loading was aborted', 'AbortError'));
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      signal?.throwIfAborted();
      const wire = { ...pick(options, LOAD_KEYS), variant, cache: Boolean(options.cache) };
      const info = await engine._call(
        { type: 'load', source: src, options: wire },
        { transfer, onProgress: options.onProgress },
      );
      engine._info = info;
      engine.note = info.note ?? null;
      if (engine.note) console.warn(`wasm-chord: ${engine.note}`);
      return engine;
    } catch (e) {
      engine.dispose();
      throw e;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Deletes every model kept by `load(url, { cache: true })`. */
  static async clearCache() {
    if (typeof caches === 'undefined') return false;
    return caches.delete(CACHE_NAME);
  }

  constructor(worker) {
    this._worker = worker;
    this._nextId = 1;
    this._pending = new Map();
    this._info = null;
    this._disposed = false;
    /** Why the load ran on the CPU although backend 'auto' asked for WebGPU, or null. */
    this.note = null;
    /** Result of the last finished generate()/chat(): {text, tokens, finish, stats}. */
    this.lastResult = null;
    worker.onmessage = (e) => this._receive(e.data);
    worker.onerror = (e) => {
      e.preventDefault?.();
      this._fail(new Error(`wasm-chord worker failed: ${e.message || 'could not start the worker'}`));
    };
    worker.onmessageerror = () => this._fail(new Error('wasm-chord worker: a message could not be read'));
  }

  _receive(msg) {
    const p = this._pending.get(msg.id);
    if (!p) return;
    if (msg.type === 'progress') p.onProgress?.({ loaded: msg.loaded, total: msg.total });
    else if (msg.type === 'piece') p.onPiece?.(msg);
    else {
      this._pending.delete(msg.id);
      if (msg.type === 'result') p.resolve(msg.value);
      else p.reject(new Error(msg.message));
    }
  }

  _fail(err) {
    for (const p of this._pending.values()) p.reject(err);
    this._pending.clear();
    this._worker.terminate();
    this._disposed = true;
  }

  _post(msg, transfer = []) {
    if (this._disposed) throw new Error('this WasmChord engine was disposed');
    const id = this._nextId++;
    this._worker.postMessage({ ...msg, id }, transfer);
    return id;
  }

  _call(msg, { transfer, onProgress, onPiece } = {}) {
    return new Promise((resolve, reject) => {
      const id = this._post(msg, transfer);
      this._pending.set(id, { resolve, reject, onProgress, onPiece });
    });
  }

  /** Streams the continuation of `prompt` as text pieces, one per token, as produced. */
  generate(prompt, options = {}) {
    return this._stream({ type: 'generate', prompt: String(prompt) }, options);
  }

  /**
   * Streams the assistant's reply to `messages` ([{role, content, tool_calls?}], the whole
   * conversation) using the model's chat template; earlier turns come from the KV cache.
   * `options.tools` (an array of tool definitions) becomes the template's `tools`.
   */
  chat(messages, options = {}) {
    return this._stream({ type: 'chat', messages, tools: options.tools ?? null }, options);
  }

  async *_stream(msg, options) {
    const pieces = [];
    let wake = null;
    let finished = false;
    let failure = null;
    const notify = () => {
      wake?.();
      wake = null;
    };
    const onPiece = (m) => {
      options.onToken?.({ text: m.text, token: m.token });
      if (m.text) pieces.push(m.text);
      notify();
    };
    const id = this._nextId;
    const done = this._call({ ...msg, params: pick(options, GENERATE_KEYS) }, { onPiece });
    done.then(
      (result) => {
        this.lastResult = result;
        finished = true;
        notify();
      },
      (err) => {
        failure = err;
        finished = true;
        notify();
      },
    );
    const abort = () => {
      if (!finished && !this._disposed) this._worker.postMessage({ type: 'abort', id });
    };
    const signal = options.signal;
    if (signal?.aborted) abort();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      for (;;) {
        if (pieces.length) yield pieces.shift();
        else if (finished) break;
        else await new Promise((resolve) => (wake = resolve));
      }
      if (failure) throw failure;
    } finally {
      signal?.removeEventListener('abort', abort);
      abort(); // the consumer left the loop early: stop the worker too
    }
  }

  /** Token ids of `text` (BOS added unless `addSpecial` is false). */
  tokenize(text, { addSpecial = true } = {}) {
    return this._call({ type: 'tokenize', text: String(text), addSpecial });
  }

  /** Text of token ids. */
  detokenize(ids) {
    return this._call({ type: 'detokenize', ids: Array.from(ids) });
  }

  /**
   * Model description: arch, name, nParams, nCtx, tensorTypes, chatTemplate, isa, variant,
   * backend ('cpu' | 'webgpu'), adapter (GPUAdapterInfo, on WebGPU), dispatchesPerToken,
   * note...
   */
  info() {
    return this._call({ type: 'info' });
  }

  /** Forgets the cached conversation (the next prompt is evaluated from scratch). */
  reset() {
    return this._call({ type: 'reset' });
  }

  /** Stops the worker and frees the model's memory. */
  dispose() {
    if (this._disposed) return;
    this._fail(new Error('this WasmChord engine was disposed'));
  }
}

export default WasmChord;
