// Runs a wasm32-wasip1 binary (a cargo test harness) under Node's WASI:
//   node scripts/wasi-runner.mjs <file.wasm> [args...]
// Cargo calls it as CARGO_TARGET_WASM32_WASIP1_RUNNER. The arguments and the
// environment are passed through, the file system is visible from / and the
// current directory, and the process exits with the module's exit code.
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import process from 'node:process';

const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error('usage: node wasi-runner.mjs <file.wasm> [args...]');
  process.exit(2);
}

const wasi = new WASI({
  version: 'preview1',
  args: [file, ...args],
  env: process.env,
  preopens: { '/': '/', '.': process.cwd() },
  returnOnExit: true,
});

let code;
try {
  const module = await WebAssembly.compile(await readFile(file));
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
  code = wasi.start(instance);
} catch (e) {
  // A trap (a Rust panic aborts with `unreachable`) or a load error.
  console.error(`wasi-runner: ${file}: ${e && e.stack ? e.stack : e}`);
  code = 101;
}
process.exit(code ?? 0);
