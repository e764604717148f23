#!/usr/bin/env node
// A round-robin reverse proxy in front of several test FHIR servers (benchmarks/push_bench.py
// --workers N): a stand-in for a server with more than one worker, to show what concurrent pushes
// gain where the server can serve them in parallel.
//
// Usage:  node balancer.js PORT1 PORT2 ...   (prints "PORT <n>" once it listens on 127.0.0.1)
// POST /__reset is sent to every worker; every other request to the next worker in turn.
'use strict';

const http = require('node:http');

const workers = process.argv.slice(2).map(Number);
if (workers.length === 0) {
  process.stderr.write('usage: node balancer.js PORT [PORT ...]\n');
  process.exit(2);
}
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
let next = 0;

function forward(port, req, body) {
  return new Promise((resolve, reject) => {
    const up = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, agent,
      headers: { ...req.headers, host: `127.0.0.1:${port}` } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    up.on('error', reject);
    up.end(body);
  });
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    try {
      let answer;
      if (req.method === 'POST' && req.url === '/__reset') {
        const all = await Promise.all(workers.map((port) => forward(port, req, body)));
        answer = all[0];
      } else {
        const port = workers[next];
        next = (next + 1) % workers.length;
        answer = await forward(port, req, body);
      }
      const headers = { ...answer.headers };
      delete headers['transfer-encoding'];
      headers['content-length'] = answer.body.length;
      res.writeHead(answer.status, headers);
      res.end(answer.body);
    } catch (err) {
      res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(String(err));
    }
  });
});
server.keepAliveTimeout = 30000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`PORT ${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
