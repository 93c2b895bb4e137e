// ringcast integration: interoperability with the Node `ws` client (npm ws 8, pinned by
// package-lock.json; `npm ci` in this folder installs it).
//
//     node interop.mjs ws://127.0.0.1:PORT      (or wss://, trusting the server with NODE_EXTRA_CA_CERTS)
//
// Run by ../test_interop_node.py, which starts the server. Prints one line per check and exits 0
// only if all passed. `ws` checks Sec-WebSocket-Accept, the negotiated subprotocol (an answer
// without the one we offered is an error) and every frame the server sends.
import WebSocket from "ws";

const base = process.argv[2];
if (!base) {
  console.error("usage: node interop.mjs ws://127.0.0.1:PORT (or wss://127.0.0.1:PORT)");
  process.exit(2);
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function publishFrame(topic, payload) {
  const t = enc.encode(topic);
  const text = typeof payload === "string";
  const p = text ? enc.encode(payload) : payload;
  const buf = new Uint8Array(11 + t.length + p.length);
  const dv = new DataView(buf.buffer);
  dv.setUint8(0, 0x01);
  dv.setUint8(1, text ? 0x01 : 0x00);
  dv.setUint8(2, t.length);
  buf.set(t, 3);
  dv.setBigUint64(3 + t.length, 0n);
  buf.set(p, 11 + t.length);
  return buf;
}

function readMessage(buf) {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint8(0) !== 0x01) throw new Error(`not a MESSAGE: kind ${dv.getUint8(0)}`);
  const flags = dv.getUint8(1), len = dv.getUint8(2);
  const topic = dec.decode(buf.subarray(3, 3 + len));
  const seq = dv.getBigUint64(3 + len);
  const bytes = buf.subarray(11 + len);
  return { topic, seq, text: (flags & 1) === 1, bytes };
}

class Fail extends Error {}

// A client that queues what it receives, so a test can await "the next message".
function open(path, protocols) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base + path, protocols, { perMessageDeflate: true });
    const inbox = [];
    const waiters = [];
    ws.on("message", (data, isBinary) => {
      const m = { data, isBinary };
      if (waiters.length) waiters.shift()(m);
      else inbox.push(m);
    });
    ws.on("close", (code, reason) => {
      ws.closeCode = code;
      while (waiters.length) waiters.shift()(null);
    });
    ws.on("error", (e) => { ws.lastError = e; reject(e); });
    ws.next = (ms = 5000, what = "a message") => {
      if (inbox.length) return Promise.resolve(inbox.shift());
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Fail(`${path}: no ${what} within ${ms} ms`)), ms);
        waiters.push((m) => {
          clearTimeout(timer);
          if (m === null) rej(new Fail(`${path}: closed (code ${ws.closeCode}) while waiting for ${what}`));
          else res(m);
        });
      });
    };
    ws.nothing = (ms = 300) => new Promise((res, rej) => {
      if (inbox.length) return rej(new Fail(`${path}: unexpected message ${inbox[0].data}`));
      const timer = setTimeout(() => { waiters.length = 0; res(); }, ms);
      waiters.push((m) => {
        clearTimeout(timer);
        if (m === null) res();
        else rej(new Fail(`${path}: unexpected message ${m.data}`));
      });
    });
    ws.on("open", () => resolve(ws));
  });
}

function closeAndWait(ws) {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve(ws.closeCode);
    ws.once("close", (code) => resolve(code));
    ws.close(1000);
  });
}

function eq(got, want, what) {
  const g = JSON.stringify(got, (k, v) => (typeof v === "bigint" ? v.toString() + "n" : v));
  const w = JSON.stringify(want, (k, v) => (typeof v === "bigint" ? v.toString() + "n" : v));
  if (g !== w) throw new Fail(`${what}: expected ${w}, got ${g}`);
}

const checks = [];
function check(name, fn) { checks.push([name, fn]); }

check("plain subscribe + publish, text and binary, in order", async () => {
  const sub = await open("/ws?topics=node.a");
  const pub = await open("/ws?topics=node.a&publish=node.a");
  eq(sub.protocol, "", "subprotocol of a plain client");
  eq(sub.extensions, "", "extensions (the server negotiates none, even when offered)");
  // plain subscriptions have no confirmation: warm up until one arrives
  let warm = false;
  for (let i = 0; i < 300 && !warm; i++) {
    pub.send("warm");
    try { const m = await sub.next(20, "warm-up"); warm = m.data.toString() === "warm"; } catch (e) { if (!(e instanceof Fail)) throw e; }
  }
  if (!warm) throw new Fail("warm-up message never arrived");
  const N = 1000;
  for (let i = 0; i < N; i++) {
    if (i % 7 === 0) pub.send(Buffer.from([i & 255, 0, 255, (i >> 8) & 255]));
    else pub.send(`n:${i}:\u00e9`);
  }
  let i = 0;
  while (i < N) {
    const m = await sub.next(5000, `message ${i}`);
    if (!m.isBinary && m.data.toString() === "warm") continue;
    if (i % 7 === 0) {
      eq(m.isBinary, true, `message ${i} is binary`);
      eq([...m.data], [i & 255, 0, 255, (i >> 8) & 255], `message ${i}`);
    } else {
      eq(m.isBinary, false, `message ${i} is text`);
      eq(m.data.toString(), `n:${i}:\u00e9`, `message ${i}`);
    }
    i++;
  }
  await sub.nothing();
  await pub.nothing(); // subscribed to its own topic: never its own messages
  eq(await closeAndWait(sub), 1000, "close code answering our close");
  await closeAndWait(pub);
});

check("ringcast.v1: subscribe command, PUBLISH, MESSAGE envelope with sequence numbers", async () => {
  const sub = await open("/ws?topics=node.b", "ringcast.v1");
  eq(sub.protocol, "ringcast.v1", "negotiated subprotocol");
  let m = await sub.next(5000, "subscribed notice");
  eq(m.isBinary, false, "notice is TEXT");
  let n = JSON.parse(m.data.toString());
  eq(n.positions.length, 1, "one position per topic");
  eq(/^[0-9a-f]{16}$/.test(n.positions[0].epoch), true, "an epoch of 16 hex digits");
  eq(n.positions[0].seq, 0, "nothing published on node.b yet");
  delete n.positions;
  eq(n, { type: "subscribed", topics: ["node.b"] }, "first notice");
  sub.send(JSON.stringify({ op: "subscribe", topics: ["node.c"] }));
  m = await sub.next(5000, "answer to subscribe");
  n = JSON.parse(m.data.toString());
  delete n.positions;
  eq(n, { type: "subscribed", topics: ["node.c"] }, "answer to subscribe");
  const pub = await open("/ws", "ringcast.v1");
  const N = 200;
  for (let i = 0; i < N; i++) {
    pub.send(publishFrame(i % 2 ? "node.b" : "node.c", i % 3 ? `v1:${i}` : new Uint8Array([i & 255, 1, 2])));
  }
  // In order per topic; the two topics' streams may interleave otherwise (each topic is
  // numbered by one worker, and with several workers they may be different ones).
  const seq = { "node.b": 0n, "node.c": 0n };
  const next = { "node.b": 1, "node.c": 0 }; // the next i each topic's stream should bring
  for (let k = 0; k < N; k++) {
    m = await sub.next(5000, `MESSAGE ${k}`);
    eq(m.isBinary, true, `MESSAGE ${k} is BINARY`);
    const r = readMessage(new Uint8Array(m.data));
    if (!(r.topic in next)) throw new Error(`MESSAGE ${k}: topic ${r.topic}`);
    const i = next[r.topic];
    next[r.topic] += 2;
    seq[r.topic] += 1n;
    eq(r.seq, seq[r.topic], `MESSAGE ${i} sequence number`);
    if (i % 3) {
      eq(r.text, true, `MESSAGE ${i} text flag`);
      eq(dec.decode(r.bytes), `v1:${i}`, `MESSAGE ${i} payload`);
    } else {
      eq(r.text, false, `MESSAGE ${i} text flag`);
      eq([...r.bytes], [i & 255, 1, 2], `MESSAGE ${i} payload`);
    }
  }
  // the very bytes of the documented example, sequence filled in
  pub.send(publishFrame("node.b", '{"bid":42}'));
  m = await sub.next(5000, "documented example");
  const want = Buffer.from(publishFrame("node.b", '{"bid":42}'));
  want.writeBigUInt64BE(seq["node.b"] + 1n, 3 + 6);
  eq(Buffer.from(m.data).toString("hex"), want.toString("hex"), "MESSAGE bytes = PUBLISH bytes with the sequence number");
  await pub.nothing();
  await closeAndWait(sub);
  await closeAndWait(pub);
});

check("ping answered by pong", async () => {
  const ws = await open("/echo");
  const got = new Promise((res) => ws.once("pong", (d) => res(d.toString())));
  ws.ping("node-ping");
  const p = await Promise.race([got, new Promise((_, rej) => setTimeout(() => rej(new Fail("no pong within 5 s")), 5000))]);
  eq(p, "node-ping", "pong payload");
  ws.send("echo me");
  const m = await ws.next(5000, "echo");
  eq(m.data.toString(), "echo me", "/echo");
  eq(await closeAndWait(ws), 1000, "close code");
});

check("handshake refusal is an HTTP error, not a WebSocket", async () => {
  const status = await new Promise((resolve) => {
    const ws = new WebSocket(base + "/ws?topics=a%2Cb");
    ws.on("unexpected-response", (req, res) => { resolve(res.statusCode); req.destroy(); });
    ws.on("error", () => {});
    ws.on("open", () => resolve("open"));
  });
  eq(status, 400, "status for topics=a%2Cb");
});

let failed = 0;
const deadline = setTimeout(() => { console.log("FAIL: overall time limit of 60 s"); process.exit(1); }, 60000);
for (const [name, fn] of checks) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e instanceof Fail ? e.message : e.stack}`);
  }
}
clearTimeout(deadline);
console.log(`node interop: ${checks.length - failed} checks ok, ${failed} failed`);
process.exit(failed ? 1 : 0);
