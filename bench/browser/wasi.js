// A minimal WASI preview1 for a cargo test harness (wasm32-wasip1) in a web page: args,
// an empty environment, stdout/stderr to `log`, clocks, random bytes and exit; no files.
// window.runWasi(url, args) resolves to { code, out }. Used by kernel-timing.mjs to run
// the kernels crate's timing tests in Chromium's V8 (Node's is older).
class Exit {
  constructor(code) {
    this.code = code;
  }
}

async function runWasi(url, args) {
  let memory;
  let out = '';
  const view = () => new DataView(memory.buffer);
  const bytes = () => new Uint8Array(memory.buffer);
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const argv = args.map((a) => enc.encode(`${a}\0`));
  const ENOSYS = 52;
  const EBADF = 8;
  const wasi = {
    args_sizes_get(argc, size) {
      view().setUint32(argc, argv.length, true);
      view().setUint32(size, argv.reduce((n, a) => n + a.length, 0), true);
      return 0;
    },
    args_get(ptrs, buf) {
      for (const a of argv) {
        view().setUint32(ptrs, buf, true);
        bytes().set(a, buf);
        ptrs += 4;
        buf += a.length;
      }
      return 0;
    },
    environ_sizes_get(count, size) {
      view().setUint32(count, 0, true);
      view().setUint32(size, 0, true);
      return 0;
    },
    environ_get() {
      return 0;
    },
    clock_time_get(id, _precision, at) {
      const ns = id === 0 ? BigInt(Date.now()) * 1000000n : BigInt(Math.round(performance.now() * 1e6));
      view().setBigUint64(at, ns, true);
      return 0;
    },
    random_get(buf, len) {
      crypto.getRandomValues(bytes().subarray(buf, buf + len));
      return 0;
    },
    fd_write(fd, iovs, n, written) {
      if (fd !== 1 && fd !== 2) return EBADF;
      let total = 0;
      for (let i = 0; i < n; i++) {
        const ptr = view().getUint32(iovs + 8 * i, true);
        const len = view().getUint32(iovs + 8 * i + 4, true);
        out += dec.decode(bytes().slice(ptr, ptr + len));
        total += len;
      }
      view().setUint32(written, total, true);
      return 0;
    },
    fd_fdstat_get(fd, at) {
      if (fd > 2) return EBADF;
      bytes().fill(0, at, at + 24);
      view().setUint8(at, 2); // character device
      return 0;
    },
    fd_prestat_get() {
      return EBADF;
    },
    proc_exit(code) {
      throw new Exit(code);
    },
    sched_yield() {
      return 0;
    },
  };
  for (const name of ['fd_close', 'fd_filestat_get', 'fd_prestat_dir_name', 'fd_read', 'fd_seek',
    'path_filestat_get', 'path_open']) {
    wasi[name] = () => ENOSYS;
  }
  const { instance } = await WebAssembly.instantiateStreaming(fetch(url), { wasi_snapshot_preview1: wasi });
  memory = instance.exports.memory;
  let code = 0;
  try {
    instance.exports._start();
  } catch (e) {
    if (e instanceof Exit) code = e.code;
    else {
      out += `\ntrap: ${e.message}`;
      code = 134;
    }
  }
  return { code, out };
}
window.runWasi = runWasi;
window.wasiReady = true;
