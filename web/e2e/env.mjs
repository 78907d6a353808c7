// Paths and environment shared by the browser tests (demo.test.mjs, webgpu.test.mjs).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, '..', '..');
export const OUT = join(HERE, 'out');
/** The demo server (scripts/test-e2e.sh starts one and sets it). */
export const BASE = process.env.E2E_BASE_URL;
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
/** The native CLI whose output the browser must equal. */
export const CLI = process.env.WASM_CHORD_CLI ?? join(ROOT, 'target', 'release', 'wasm-chord');
/** Kernel table of the native reference runs (scalar: the order the wasm builds match). */
export const NATIVE_ISA = process.env.NATIVE_ISA ?? 'scalar';
