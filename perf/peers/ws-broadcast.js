#!/usr/bin/env node
// ws-broadcast: a WebSocket broadcast server on Node's `ws`, for perf/side-by-side.py.
//
//   (cd perf/peers && npm ci)
//   node perf/peers/ws-broadcast.js --port 8082
//   node perf/peers/ws-broadcast.js --port 8443 --tls-cert cert.pem --tls-key key.pem  # wss://
//
// Every client connects to ws://127.0.0.1:PORT/ (any path), and every message, text or binary,
// received from one client is sent unchanged to every other connected client. One Node process,
// one thread of JavaScript.
//
// This is the broadcast of the ws README ("Server broadcast", "to all connected WebSocket clients,
// excluding itself"), with one addition: a client whose unsent backlog (ws's bufferedAmount) is
// over BACKLOG_BYTES_MAX is skipped for that message, so a slow client costs bounded memory. ws
// has no way to drop the oldest queued message, so it is the newest that is dropped; the drops are
// counted and printed when the server stops (SIGINT or SIGTERM). No permessage-deflate, like the
// other servers compared.
//
// With --tls-cert and --tls-key it serves wss:// instead: ws runs on a Node https server made with
// that certificate (PEM, the server's first, then any intermediates) and key, as the ws README's
// "External HTTP/S server" example does; Node's TLS (OpenSSL) encrypts what ws writes, nothing
// else changes.
'use strict';

const fs = require('fs');
const https = require('https');
const { WebSocketServer, WebSocket } = require('ws');

// 1,024 messages of 64 bytes plus frame headers, as lws-broadcast.c's QUEUE_MAX: the saturation
// run (256 messages in flight) never reaches it.
const BACKLOG_BYTES_MAX = 1024 * 66;
// Longest message relayed; ws closes a sender of a longer one with 1009.
const MSG_LEN_MAX = 64 * 1024;

function usage(out) {
  out.write('usage: node ws-broadcast.js --port N [--host ADDR] ' +
            '[--tls-cert FILE --tls-key FILE]\n' +
            'Relays every WebSocket message from a client to every other client.\n' +
            '  --port N          TCP port to listen on (required)\n' +
            '  --host ADDR       address to listen on (default 127.0.0.1)\n' +
            '  --tls-cert FILE   serve wss:// with this PEM certificate (chain)\n' +
            '  --tls-key FILE    and this PEM private key (both or neither)\n');
}

function parseArgs(argv) {
  const args = { host: '127.0.0.1', port: null, cert: null, key: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port' && i + 1 < argv.length) {
      const port = Number(argv[++i]);
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        process.stderr.write(`ws-broadcast: --port wants 1..65535, not ${argv[i]}\n`);
        process.exit(2);
      }
      args.port = port;
    } else if (argv[i] === '--host' && i + 1 < argv.length) {
      args.host = argv[++i];
    } else if (argv[i] === '--tls-cert' && i + 1 < argv.length) {
      args.cert = argv[++i];
    } else if (argv[i] === '--tls-key' && i + 1 < argv.length) {
      args.key = argv[++i];
    } else if (argv[i] === '-h' || argv[i] === '--help') {
      usage(process.stdout);
      process.exit(0);
    } else {
      usage(process.stderr);
      process.exit(2);
    }
  }
  if (args.port === null || (args.cert === null) !== (args.key === null)) {
    usage(process.stderr);
    process.exit(2);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
let relayed = 0;
let dropped = 0;

// Plain: ws makes its own HTTP server on the port. TLS: an https server that ws attaches to.
let httpsServer = null;
if (args.cert !== null) {
  try {
    httpsServer = https.createServer({
      cert: fs.readFileSync(args.cert),
      key: fs.readFileSync(args.key),
    });
  } catch (err) {
    process.stderr.write(`ws-broadcast: cannot use ${args.cert} and ${args.key}: ${err.message}\n`);
    process.exit(1);
  }
}
const wss = new WebSocketServer({
  ...(httpsServer ? { server: httpsServer } : { host: args.host, port: args.port }),
  perMessageDeflate: false,
  maxPayload: MSG_LEN_MAX,
});

wss.on('connection', (ws) => {
  ws.on('error', () => {}); // a client that goes away mid-frame: ws closes it, nothing to do here
  ws.on('message', (data, isBinary) => {
    relayed++;
    for (const client of wss.clients) {
      if (client === ws || client.readyState !== WebSocket.OPEN)
        continue;
      if (client.bufferedAmount > BACKLOG_BYTES_MAX) {
        dropped++;
        continue;
      }
      client.send(data, { binary: isBinary });
    }
  });
});

// With an https server, ws passes on its 'listening' and 'error' events.
wss.on('listening', () => {
  const pkg = require('ws/package.json');
  const scheme = httpsServer ? 'wss://' : 'ws://';
  process.stderr.write(`ws-broadcast: listening on ${args.host}:${args.port}, ${scheme} ` +
                       `(ws ${pkg.version}, node ${process.version})\n`);
});

wss.on('error', (err) => {
  process.stderr.write(`ws-broadcast: cannot listen on ${args.host}:${args.port}: ${err.message}\n`);
  process.exit(1);
});

if (httpsServer)
  httpsServer.listen(args.port, args.host);

function stop() {
  process.stderr.write(`ws-broadcast: relayed ${relayed} messages, dropped ${dropped} ` +
                       'deliveries (client backlog full)\n');
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
