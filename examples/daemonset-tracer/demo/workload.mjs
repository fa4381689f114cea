// The demo workload: a small HTTP API on 127.0.0.1 and a client that calls it a few times a second.
//   node workload.mjs server PORT      node workload.mjs client PORT
import http from 'node:http';

const [role, portArg] = process.argv.slice(2);
const port = Number(portArg);

if (role === 'server') {
  const items = new Map([[1, { id: 1, name: 'kettle' }]]);
  http
    .createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const url = new URL(req.url, 'http://x');
        const send = (status, value) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(value));
        };
        if (url.pathname === '/api/items' && req.method === 'GET')
          return send(200, [...items.values()]);
        if (url.pathname === '/api/items' && req.method === 'POST') {
          const id = items.size + 1;
          items.set(id, { id, ...JSON.parse(body || '{}') });
          return send(201, items.get(id));
        }
        const m = /^\/api\/items\/(\d+)$/.exec(url.pathname);
        if (m && items.has(Number(m[1]))) return send(200, items.get(Number(m[1])));
        if (url.pathname === '/health') return send(200, { ok: true });
        send(404, { error: 'not found' });
      });
    })
    .listen(port, '127.0.0.1', () => console.log('listening'));
} else {
  const calls = [
    ['GET', '/api/items'],
    ['POST', '/api/items', JSON.stringify({ name: 'teapot' })],
    ['GET', '/api/items/1?fields=name'],
    ['GET', '/api/items/999'],
    ['GET', '/health'],
  ];
  let i = 0;
  setInterval(async () => {
    const [method, path, body] = calls[i++ % calls.length];
    try {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        body,
        headers: body ? { 'content-type': 'application/json' } : {},
      });
      await res.arrayBuffer();
      process.stdout.write(`${method} ${path} ${res.status}\n`);
    } catch (err) {
      process.stderr.write(`client: ${err.message}\n`);
    }
  }, 400);
}
