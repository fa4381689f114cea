#!/usr/bin/env node
// Opens N keep-alive connections to host:port, sends one GET on each, reads its response, and
// keeps every connection open until stdin closes. Prints "open <n>" once all are answered.
//   node idle-connections.mjs <port> <n>
import { connect } from 'node:net';

const [port, n] = process.argv.slice(2).map(Number);
const sockets = [];
let answered = 0;
let opening = 0;
const next = () => {
  // A few hundred connects at a time: a backlog of 10,000 at once overflows the listen queue.
  while (opening < 200 && sockets.length < n) {
    opening++;
    const s = connect(port, '127.0.0.1');
    sockets.push(s);
    let got = false;
    s.on('connect', () => s.write(`GET /bench.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
    s.on('data', () => {
      if (got) return;
      got = true;
      opening--;
      if (++answered === n) console.log(`open ${answered}`);
      else next();
    });
    s.on('error', (err) => {
      console.error(`connection failed: ${err.message}`);
      process.exit(1);
    });
  }
};
next();
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
