// ioredis over TLS against the server's tls-port on argv[2], verifying the server with the CA in
// argv[3]; with argv[4] and argv[5] (certificate and key files) it presents a client
// certificate, without them none. PING, SET/GET and XADD/XRANGE, then one JSON line: what the
// commands returned and what the TLS session negotiated, or the error that ended it.
const fs = require('fs');
const Redis = require('ioredis');

async function main() {
  const [port, ca, cert, key] = process.argv.slice(2);
  const tls = { ca: fs.readFileSync(ca) };
  if (cert) {
    tls.cert = fs.readFileSync(cert);
    tls.key = fs.readFileSync(key);
  }
  const redis = new Redis({
    host: '127.0.0.1', port: Number(port), tls, lazyConnect: true, connectTimeout: 5000,
    maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false,
  });
  redis.on('error', () => {});  // reported through the failed command below
  const out = { ok: false };
  try {
    await redis.connect();
    out.ping = await redis.ping();
    out.set = await redis.set('ioredis:tls', 'over-tls');
    out.get = await redis.get('ioredis:tls');
    const id = await redis.xadd('ioredis:tls:s', '*', 'f', 'v');
    const entries = await redis.xrange('ioredis:tls:s', id, id);
    out.entry = entries[0][1];
    out.encrypted = redis.stream.encrypted === true;
    out.protocol = redis.stream.getProtocol();
    out.authorized = redis.stream.authorized;
    out.ok = true;
  } catch (e) {
    out.error = e.message;
  }
  redis.disconnect();
  console.log(JSON.stringify(out));
}

main();
