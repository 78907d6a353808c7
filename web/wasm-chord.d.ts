// Types of wasm-chord's web API (web/wasm-chord.js).

/** Byte progress of a model download or file read. */
export interface LoadProgress {
  loaded: number;
  total: number;
}

export interface LoadOptions {
  /** Called as bytes arrive (at most about once per MiB). */
  onProgress?: (progress: LoadProgress) => void;
  /** Keep a URL's file in the Cache API and reuse it on the next load (default false). */
  cache?: boolean;
  /**
   * Context window in tokens; default: the model's training context, capped at 4096.
   * A size whose KV cache does not fit wasm32's 4 GiB rejects the load.
   */
  nCtx?: number;
  /** Prompt tokens per forward pass (default 64). */
  nBatch?: number;
  /**
   * KV cache element type (default "f16": values rounded to f16, as llama.cpp's default;
   * held as f32 words while that cache is at most 256 MiB, which spares attention the
   * f16 conversions wasm lacks, same results).
   */
  cacheType?: 'f16' | 'f32';
  /** Chat template: a built-in name (gemma, llama3, chatml, ...) or Jinja source. */
  chatTemplate?: string;
  /**
   * Re-encode the model's Q5_0 matrices as Q8_0 at load time: same results, faster
   * decode, more memory (default true; skipped when the copies would exceed half the
   * file's size).
   */
  repack?: boolean;
  /**
   * Where the model runs (default "cpu"): "webgpu" runs every layer on the GPU through
   * WebGPU and rejects with a readable error when the browser has no WebGPU or no
   * adapter; "auto" takes WebGPU on a hardware adapter and otherwise the CPU build, with
   * `engine.note` (and `info().note`, and a console warning) saying why.
   */
  backend?: 'cpu' | 'webgpu' | 'auto';
  /** Force a build; default: "relaxed" when the browser validates relaxed SIMD, else
   *  "simd" when it validates wasm SIMD, else "base". */
  variant?: 'relaxed' | 'simd' | 'base';
  /** URL of worker.js (default: next to wasm-chord.js). */
  workerUrl?: string | URL;
  /** Aborting rejects the load with an AbortError and stops the worker. */
  signal?: AbortSignal;
}

export interface GenerateOptions {
  /** Maximum tokens to generate (default 256). */
  maxTokens?: number;
  /** Softmax temperature; <= 0 = greedy (default 0.8). */
  temperature?: number;
  /** Keep the k most likely tokens; 0 disables (default 40). */
  topK?: number;
  /** Nucleus threshold; >= 1 disables (default 0.95). */
  topP?: number;
  /** Minimum probability relative to the best token; <= 0 disables (default 0.05). */
  minP?: number;
  /** Repetition penalty; 1 disables (default 1). */
  repeatPenalty?: number;
  /** Window of the repetition penalty in tokens: -1 = the context, 0 = off, at most
   *  1048576 (default 64). */
  penaltyLastN?: number;
  /** Random seed (default fixed: same options give the same text). */
  seed?: number;
  /** Stop before any of these strings (never emitted). */
  stop?: string | string[];
  /** Render control tokens in the output (default false). */
  special?: boolean;
  /** Stops the generation between two tokens; the iteration then ends normally. */
  signal?: AbortSignal;
  /** Called for every generated token, including those that release no text yet. */
  onToken?: (token: { text: string; token: number | null }) => void;
}

/** A tool the model may call, in OpenAI's form (templates receive it as is). */
export interface ToolDefinition {
  type: 'function';
  function: {
    name: string;
    description?: string;
    /** JSON schema of the arguments. */
    parameters?: Record<string, unknown>;
  };
  [key: string]: unknown;
}

/** One call in an assistant message's `tool_calls` (templates receive it as is). */
export interface ToolCall {
  type?: 'function';
  function: { name: string; arguments: Record<string, unknown> | string };
  [key: string]: unknown;
}

export interface ChatMessage {
  /** `tool` for the result of a tool call (Qwen2.5's template shows it to the model
   *  as a `<tool_response>`). */
  role: 'system' | 'user' | 'assistant' | 'tool' | string;
  content: string;
  /** The tool calls of an assistant turn, as the model wrote them. */
  tool_calls?: ToolCall[];
}

export interface ChatOptions extends GenerateOptions {
  /**
   * Tools the model may call: the chat template's `tools`, as transformers'
   * `apply_chat_template(tools=...)` passes them (a JSON array of at most 1 MiB).
   * Templates without a tools branch ignore them.
   */
  tools?: ToolDefinition[];
}

export interface GenerationStats {
  cachedTokens: number;
  promptTokens: number;
  promptMs: number;
  generatedTokens: number;
  generateMs: number;
  promptTokPerS: number;
  genTokPerS: number;
}

export type FinishReason = 'eog' | 'maxTokens' | 'stop' | 'cancelled';

export interface GenerationResult {
  /** All generated text (the concatenation of the pieces). */
  text: string;
  /** Generated token ids (an end-of-generation token included). */
  tokens: number[];
  finish: FinishReason;
  stats: GenerationStats;
}

export interface ModelInfo {
  arch: string;
  name: string | null;
  nParams: number;
  fileBytes: number;
  nCtx: number;
  nCtxTrain: number;
  nVocab: number;
  nLayer: number;
  nEmbd: number;
  /** Tensor count per ggml type, e.g. {"Q4_K": 120, "F32": 50}. */
  tensorTypes: Record<string, number>;
  /** Whether chat() can be used (the file's template or a built-in one). */
  chatTemplate: boolean;
  /** The built-in template in use ("gemma", "chatml", ...); null for the file's own. */
  chatTemplateBuiltin: string | null;
  /** Jinja source of the template in use; null when there is none. */
  chatTemplateSource: string | null;
  /** Kernel instruction set: "simd128" or "scalar". */
  isa: string;
  /** The wasm build in use. */
  variant: 'relaxed' | 'simd' | 'base';
  /** Where the model runs. */
  backend: 'cpu' | 'webgpu';
  /** The WebGPU adapter (its GPUAdapterInfo), when the backend is "webgpu". */
  adapter?: GpuAdapterInfo;
  /**
   * Kernel dispatches of the last decode step on the GPU (one submission per token);
   * 0 on the CPU and before the first generated token.
   */
  dispatchesPerToken: number;
  /** Why a load with backend "auto" runs on the CPU. */
  note?: string;
}

/** The adapter's GPUAdapterInfo, e.g. {vendor: "google", architecture: "swiftshader"}. */
export interface GpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software adapter (SwiftShader, WARP): correct, slow. */
  isFallbackAdapter: boolean;
}

export declare class WasmChord {
  /** Whether this browser runs wasm SIMD (then a simd128 build is used). */
  static simdSupported(): boolean;
  /** Whether this browser also runs relaxed SIMD (then the relaxed build is used). */
  static relaxedSimdSupported(): boolean;
  /** Whether this context exposes WebGPU (`navigator.gpu`; an adapter may still be missing). */
  static webgpuAvailable(): boolean;
  /** Starts a worker and loads a model from a URL, File, Blob or ArrayBuffer. */
  static load(
    source: string | URL | Blob | ArrayBuffer | ArrayBufferView,
    options?: LoadOptions,
  ): Promise<WasmChord>;
  /** Deletes the models kept with `{ cache: true }`. */
  static clearCache(): Promise<boolean>;

  /** The last finished generate()/chat(), or null. */
  lastResult: GenerationResult | null;
  /** Why a load with backend "auto" runs on the CPU, or null. */
  note: string | null;

  /** Streams the continuation of `prompt`, one text piece per token as produced. */
  generate(prompt: string, options?: GenerateOptions): AsyncGenerator<string, void, undefined>;
  /** Streams the assistant's reply to the whole conversation, reusing the KV cache. */
  chat(messages: ChatMessage[], options?: ChatOptions): AsyncGenerator<string, void, undefined>;
  /** Token ids of `text` (BOS added unless addSpecial is false). */
  tokenize(text: string, options?: { addSpecial?: boolean }): Promise<number[]>;
  /** Text of token ids. */
  detokenize(ids: ArrayLike<number>): Promise<string>;
  info(): Promise<ModelInfo>;
  /** Forgets the cached conversation. */
  reset(): Promise<void>;
  /** Terminates the worker and frees the model. */
  dispose(): void;
}

export default WasmChord;
