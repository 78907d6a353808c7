// The model side of wasm-chord's web API, independent of where it runs: the module
// worker (worker.js) and the Node test drive it the same way.
//
// Requests are handled one at a time in arrival order, except `abort`, which is seen
// between two tokens: the generation loop yields to the event loop after each token.
//
// Messages in:  {id, type: 'load'|'generate'|'chat'|'tokenize'|'detokenize'|'info'|
//                'reset'|'abort'|'clearCache', ...}
// Messages out: {id, type: 'progress', loaded, total} | {id, type: 'piece', text, token}
//               | {id, type: 'result', value} | {id, type: 'error', message}

export const CACHE_NAME = 'wasm-chord-models';

// (module (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt)): valid only where
// the engine supports the fixed-width SIMD proposal.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15,
  253, 98, 11,
]);
// (module (func (export "f") (param i32) (result i32) (i32x4.extract_lane 0
//   (i32x4.relaxed_dot_i8x16_i7x16_add_s (i8x16.replace_lane 0 (v128.const i8x16 0 5 7 -9 ...)
//   (local.get 0)) (v128.const i8x16 1 2 3 ... 16) (v128.const i32x4 100 100 100 100)))):
// valid only with relaxed SIMD; f(-3) is -3 + 10 + 21 - 36 + 100 = 92 where the dot is
// right (Node 20's baseline compiler returns -16, twice the dot without the addend).
const RELAXED_SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 6, 1, 96, 1, 127, 1, 127, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0, 10,
  69, 1, 67, 0, 253, 12, 0, 5, 7, 247, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 32, 0, 253, 23, 0,
  253, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 253, 12, 100, 0, 0, 0, 100, 0, 0,
  0, 100, 0, 0, 0, 100, 0, 0, 0, 253, 147, 2, 253, 27, 0, 11,
]);

function validates(bytes) {
  try {
    return typeof WebAssembly !== 'undefined' && WebAssembly.validate(bytes);
  } catch {
    return false;
  }
}

/** Whether this engine runs wasm SIMD (the `simd` build). */
export function simdSupported() {
  return validates(SIMD_PROBE);
}

/**
 * Whether this engine runs wasm SIMD and relaxed SIMD (the `relaxed` build), and computes
 * the relaxed dot the build uses correctly (run once, so in the engine's first tier).
 */
export function relaxedSimdSupported(salt = 0) {
  // A custom section holding `salt` makes the bytes new: V8 reuses the code of a module
  // compiled before from the same bytes, under the flags of that time.
  const bytes = new Uint8Array([...RELAXED_SIMD_PROBE, 0, 2, 1, salt]);
  if (!simdSupported() || !validates(bytes)) return false;
  try {
    return new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.f(-3) === 92;
  } catch {
    return false;
  }
}

/**
 * Node only: sets the V8 flags (through `setFlagsFromString` of `node:v8`, before any
 * module of the relaxed build is compiled) that this Node needs to run the relaxed build;
 * returns them (`[]`: none), or null if it cannot. Node 20 has relaxed SIMD behind
 * --experimental-wasm-relaxed-simd, and its baseline compiler (Liftoff) gets the relaxed
 * dot wrong, so its code must run optimized only (--no-liftoff).
 */
export function relaxedSimdNodeFlags(setFlagsFromString) {
  const flags = [];
  for (const flag of [null, '--experimental-wasm-relaxed-simd', '--no-liftoff']) {
    if (flag) {
      setFlagsFromString(flag);
      flags.push(flag);
    }
    if (relaxedSimdSupported(flags.length + 1)) return flags;
  }
  return null;
}

/** The fastest build this engine runs: 'relaxed' > 'simd' > 'base'. */
export function bestVariant() {
  if (relaxedSimdSupported()) return 'relaxed';
  return simdSupported() ? 'simd' : 'base';
}
const BACKENDS = ['cpu', 'webgpu', 'auto'];

/**
 * The WebGPU adapter this context would get: `{ info }` (its GPUAdapterInfo as a plain
 * object) or `{ error }` (a readable reason: no `navigator.gpu`, no adapter).
 */
export async function webgpuAdapter() {
  const gpu = typeof navigator !== 'undefined' ? navigator.gpu : undefined;
  if (!gpu) {
    return {
      error: 'WebGPU is not available here (no navigator.gpu: the browser lacks WebGPU or has it disabled)',
    };
  }
  let adapter;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return { error: `WebGPU: requestAdapter failed: ${describe(e)}` };
  }
  if (!adapter) {
    return { error: 'WebGPU offers no adapter here (no usable GPU, or the browser blocks it)' };
  }
  const i = adapter.info ?? {};
  return {
    info: {
      vendor: i.vendor ?? '',
      architecture: i.architecture ?? '',
      device: i.device ?? '',
      description: i.description ?? '',
      isFallbackAdapter: Boolean(i.isFallbackAdapter ?? adapter.isFallbackAdapter),
    },
  };
}

/**
 * Where a load with `backend` ('cpu' | 'webgpu' | 'auto') runs: `{ use, adapter, note }`.
 * 'webgpu' without an adapter throws a readable error; 'auto' takes WebGPU when a
 * hardware adapter exists, else the CPU with a `note` saying why (as the CLI's
 * `--backend auto`: a software adapter such as SwiftShader is slower than the CPU build).
 */
export async function chooseBackend(backend = 'cpu') {
  if (!BACKENDS.includes(backend)) {
    throw new Error(`unknown backend ${JSON.stringify(backend)}: use 'cpu', 'webgpu' or 'auto'`);
  }
  if (backend === 'cpu') return { use: 'cpu', adapter: null, note: null };
  const found = await webgpuAdapter();
  if (backend === 'webgpu') {
    if (found.error) throw new Error(`backend 'webgpu': ${found.error}; load with backend 'cpu' or 'auto'`);
    return { use: 'webgpu', adapter: found.info, note: null };
  }
  if (found.error) return { use: 'cpu', adapter: null, note: `backend 'auto': ${found.error}; running on the CPU` };
  if (found.info.isFallbackAdapter) {
    const name = found.info.architecture || found.info.description || found.info.vendor || 'unknown';
    return {
      use: 'cpu',
      adapter: null,
      note: `backend 'auto': only the software WebGPU adapter (${name}); running on the CPU`,
    };
  }
  return { use: 'webgpu', adapter: found.info, note: null };
}

const PROGRESS_STEP = 1 << 20; // post load progress at most once per MiB
const ARRAY_CHUNK = 16 << 20; // slice size when the source is an ArrayBuffer

/** Resolves after `ms` milliseconds (pending tasks run meanwhile). */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls of a GPU step answered by a bare turn of the event loop before sleeping. */
const QUICK_POLLS = 8;

/** Resolves after the event loop has run pending tasks (incoming messages included). */
function makeTick() {
  if (typeof setImmediate === 'function') {
    return () => new Promise((resolve) => setImmediate(resolve));
  }
  const channel = new MessageChannel();
  const waiting = [];
  channel.port1.onmessage = () => waiting.shift()?.();
  return () =>
    new Promise((resolve) => {
      waiting.push(resolve);
      channel.port2.postMessage(0);
    });
}

/** The message of anything thrown, with the Rust panic message after a trap. */
function describe(err, wasm) {
  if (typeof WebAssembly !== 'undefined' && err instanceof WebAssembly.RuntimeError) {
    const panic = wasm?.last_panic?.();
    return `wasm-chord crashed (${err.message})${panic ? `: ${panic}` : ''}; reload the model`;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Opens a model source as {total, chunks} where chunks is an async iterator of
 * Uint8Array; `total` is null when the size is unknown up front.
 */
async function openSource(source, { cache }) {
  if (source.buffer) {
    const bytes = new Uint8Array(source.buffer);
    return {
      total: bytes.byteLength,
      chunks: (async function* () {
        for (let at = 0; at < bytes.byteLength; at += ARRAY_CHUNK) {
          yield bytes.subarray(at, at + ARRAY_CHUNK);
        }
      })(),
    };
  }
  if (source.blob) {
    return { total: source.blob.size, chunks: streamChunks(source.blob.stream()) };
  }
  const url = source.url;
  const store = cache && typeof caches !== 'undefined' ? await caches.open(CACHE_NAME) : null;
  let response = store ? await store.match(url) : undefined;
  const fromCache = Boolean(response);
  if (!response) {
    try {
      response = await fetch(url);
    } catch (e) {
      throw new Error(`could not download ${url}: ${describe(e)}`);
    }
    if (!response.ok) {
      throw new Error(`could not download ${url}: HTTP ${response.status} ${response.statusText}`);
    }
  }
  if (!response.body) throw new Error(`could not download ${url}: the response has no body`);
  const encoded = response.headers.get('content-encoding');
  const length = Number(response.headers.get('content-length'));
  const total = !encoded || encoded === 'identity' ? (length > 0 ? length : null) : null;
  let body = response.body;
  let stored = null;
  if (store && !fromCache) {
    const [mine, theirs] = body.tee();
    body = mine;
    const headers = total ? { 'content-length': String(total) } : {};
    stored = store.put(url, new Response(theirs, { headers })).catch(() => {});
  }
  return { total, chunks: streamChunks(body), stored, fromCache };
}

async function* streamChunks(stream) {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (value.byteLength) yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/** Collects every chunk (only when the size is unknown: costs a second copy). */
async function collect(chunks) {
  const parts = [];
  let n = 0;
  for await (const c of chunks) {
    parts.push(c);
    n += c.byteLength;
  }
  const all = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.byteLength;
  }
  return all;
}

export class WorkerCore {
  /**
   * @param {(msg: object) => void} post sends a message to the page
   * @param {(variant: string) => Promise<object>} loadWasm imports and initializes the
   *   wasm-bindgen module of a build variant ('relaxed' | 'simd' | 'base')
   */
  constructor(post, loadWasm) {
    this.post = post;
    this.loadWasm = loadWasm;
    this.wasm = null;
    this.engine = null;
    this.variant = null;
    this.queue = [];
    this.busy = false;
    this.aborted = new Set();
    this.tick = makeTick();
    this.note = null;
  }

  /**
   * Yields while a GPU step waits for its read (WebGPU's mapAsync resolves only when the
   * event loop runs): a bare turn of the event loop the first times, then 1 ms sleeps, so
   * the worker does not spin while the device (a software one runs on the same cores)
   * computes. The engine bounds the whole wait (an error past it).
   */
  pause(polls) {
    return polls < QUICK_POLLS ? this.tick() : sleep(1);
  }

  /** Waits until no GPU step of `engine` is in flight (after an abort). */
  async settle(engine) {
    for (let polls = 0; !engine.settle(); polls++) await this.pause(polls);
  }

  /** Entry point for every message from the page. */
  handle(msg) {
    if (msg.type === 'abort') {
      this.aborted.add(msg.id);
      return;
    }
    this.queue.push(msg);
    if (!this.busy) this.pump();
  }

  async pump() {
    this.busy = true;
    while (this.queue.length) {
      const msg = this.queue.shift();
      try {
        const value = await this.run(msg);
        this.post({ id: msg.id, type: 'result', value });
      } catch (e) {
        this.post({ id: msg.id, type: 'error', message: describe(e, this.wasm) });
        if (typeof WebAssembly !== 'undefined' && e instanceof WebAssembly.RuntimeError) {
          this.engine = null; // the instance is unusable after a trap
        }
      } finally {
        this.aborted.delete(msg.id);
      }
    }
    this.busy = false;
  }

  requireEngine() {
    if (!this.engine) throw new Error('no model is loaded');
    return this.engine;
  }

  async run(msg) {
    switch (msg.type) {
      case 'load':
        return this.load(msg);
      case 'generate':
        this.requireEngine().generate_start(msg.prompt, JSON.stringify(msg.params ?? {}));
        return this.stream(msg.id);
      case 'chat':
        this.requireEngine().chat_start(
          JSON.stringify(msg.messages),
          JSON.stringify(msg.params ?? {}),
          msg.tools == null ? '' : (JSON.stringify(msg.tools) ?? 'null'),
        );
        return this.stream(msg.id);
      case 'tokenize':
        return Array.from(this.requireEngine().tokenize(msg.text, msg.addSpecial !== false));
      case 'detokenize':
        return this.requireEngine().detokenize(Uint32Array.from(msg.ids));
      case 'info':
        return this.describeEngine();
      case 'reset':
        this.requireEngine().reset();
        return null;
      case 'clearCache':
        return typeof caches !== 'undefined' ? caches.delete(CACHE_NAME) : false;
      default:
        throw new Error(`unknown request type ${JSON.stringify(msg.type)}`);
    }
  }

  /** `info()` of the engine, with the build variant and the backend note. */
  describeEngine() {
    const info = { ...JSON.parse(this.requireEngine().info()), variant: this.variant };
    return this.note ? { ...info, note: this.note } : info;
  }

  async load({ id, source, options = {} }) {
    if (this.engine) {
      this.engine.free();
      this.engine = null;
    }
    this.note = null;
    // before the download: a missing WebGPU fails at once
    const chosen = await chooseBackend(options.backend);
    if (chosen.note) console.warn(`wasm-chord: ${chosen.note}`);
    this.variant = options.variant;
    this.wasm = await this.loadWasm(options.variant);
    const { total, chunks, stored, fromCache } = await openSource(source, options);
    const progress = (loaded, size) => this.post({ id, type: 'progress', loaded, total: size });
    let buffer;
    if (total === null) {
      const all = await collect(chunks);
      buffer = new this.wasm.ModelBuffer(all.byteLength);
      buffer.write(0, all);
      progress(all.byteLength, all.byteLength);
    } else {
      buffer = new this.wasm.ModelBuffer(total);
      progress(0, total);
      let loaded = 0;
      let reported = 0;
      for await (const chunk of chunks) {
        if (this.aborted.has(id)) throw new Error('loading was aborted');
        buffer.write(loaded, chunk);
        loaded += chunk.byteLength;
        if (loaded - reported >= PROGRESS_STEP || loaded === total) {
          progress(loaded, total);
          reported = loaded;
        }
      }
      if (loaded !== total) {
        buffer.free();
        throw new Error(`the model download is incomplete: ${loaded} of ${total} bytes received`);
      }
    }
    const { variant, cache, backend, ...engineOptions } = options;
    const json = JSON.stringify(engineOptions);
    this.engine =
      chosen.use === 'webgpu'
        ? await this.wasm.Engine.load_webgpu(buffer, json, JSON.stringify(chosen.adapter))
        : this.wasm.Engine.load(buffer, json);
    this.note = chosen.note;
    if (stored) await stored;
    return { ...this.describeEngine(), fromCache: Boolean(fromCache) };
  }

  /** Runs the started generation one token at a time, posting each piece. */
  async stream(id) {
    const engine = this.engine;
    let text = '';
    const tokens = [];
    let polls = 0;
    for (;;) {
      if (this.aborted.has(id)) {
        const stats = JSON.parse(engine.cancel());
        await this.settle(engine);
        return { text, tokens, finish: 'cancelled', stats };
      }
      const step = JSON.parse(engine.next_piece());
      if (step.pending) {
        await this.pause(polls++);
        continue;
      }
      polls = 0;
      if (step.id !== null) tokens.push(step.id);
      text += step.text;
      this.post({ id, type: 'piece', text: step.text, token: step.id });
      if (step.done) return { text, tokens, finish: step.finish, stats: step.stats };
      await this.tick();
    }
  }
}
