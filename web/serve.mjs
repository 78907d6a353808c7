// A small static server for the demo page: serves web/ at / and the repository's models/
// directory at /models/. `node web/serve.mjs` (PORT from the environment, default 8080).
// Also importable: `startServer({ port, root, models })` resolves to the http.Server.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.gguf': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/** Maps a URL path to a file under one of the roots, or null (never outside them). */
function locate(urlPath, root, models) {
  let path;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (path.includes('\0')) return null;
  let base = root;
  if (path === '/models' || path.startsWith('/models/')) {
    base = models;
    path = path.slice('/models'.length);
  }
  const file = resolve(base, `.${path}`);
  if (file !== base && !file.startsWith(base + sep)) return null;
  return file;
}

function send(res, status, text) {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`${text}\n`);
}

/** Parses a single `bytes=a-b` range; null when absent, false when unsatisfiable. */
function parseRange(header, size) {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return false;
  let start;
  let end;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return start <= end && start < size ? { start, end } : false;
}

async function handle(req, res, root, models) {
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed');
  const url = new URL(req.url, 'http://localhost');
  let file = locate(url.pathname, root, models);
  if (!file) return send(res, 403, 'forbidden');
  let info;
  try {
    info = await stat(file);
    if (info.isDirectory()) {
      file = join(file, 'index.html');
      info = await stat(file);
    }
  } catch {
    return send(res, 404, `not found: ${url.pathname}`);
  }
  const headers = {
    'content-type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'accept-ranges': 'bytes',
    'cache-control': 'no-cache',
    // Cross-origin isolation, so a future threaded build may use SharedArrayBuffer.
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
    'cross-origin-resource-policy': 'same-origin',
  };
  const range = parseRange(req.headers.range, info.size);
  if (range === false) {
    res.writeHead(416, { 'content-range': `bytes */${info.size}` });
    return res.end();
  }
  const { start, end } = range ?? { start: 0, end: info.size - 1 };
  headers['content-length'] = String(Math.max(0, end - start + 1));
  if (range) headers['content-range'] = `bytes ${start}-${end}/${info.size}`;
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === 'HEAD' || info.size === 0) return res.end();
  const stream = createReadStream(file, { start, end });
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

export function startServer({
  port = 8080,
  host = '127.0.0.1',
  root = HERE,
  models = resolve(HERE, '..', 'models'),
} = {}) {
  const r = resolve(root);
  const m = resolve(models);
  const server = createServer((req, res) => {
    handle(req, res, r, m).catch((e) => {
      if (!res.headersSent) send(res, 500, String(e));
      else res.destroy();
    });
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok(server));
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.PORT ?? 8080);
  const host = process.env.HOST ?? '127.0.0.1';
  const server = await startServer({ port, host });
  const { port: bound } = server.address();
  console.log(`wasm-chord demo: http://${host === '0.0.0.0' ? 'localhost' : host}:${bound}/`);
  console.log(`serving ${HERE} at / and ${resolve(HERE, '..', 'models')} at /models/`);
}
