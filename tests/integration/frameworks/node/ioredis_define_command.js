// ioredis's defineCommand (EVALSHA first, EVAL on NOSCRIPT) against the server on argv[2]:
// a sliding-window rate limiter, a script returning a table, a script error, and a pipeline.
// Prints one JSON line with what it saw.
const Redis = require('ioredis');

async function main() {
  const port = Number(process.argv[2]);
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  await redis.connect();
  await redis.flushall();
  redis.defineCommand('ratelimit', {
    numberOfKeys: 1,
    lua: `
      local current = redis.call('INCR', KEYS[1])
      if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
      if current > tonumber(ARGV[2]) then return {0, current} end
      return {1, current}`,
  });
  redis.defineCommand('fail', { numberOfKeys: 0, lua: "return redis.error_reply('LIMIT exceeded')" });
  const out = { allowed: [], ttlSet: false, pipeline: null, error: null, scriptExists: null };
  for (let i = 0; i < 5; i++) out.allowed.push(await redis.ratelimit('rl:user', 60000, 3));
  out.ttlSet = (await redis.pttl('rl:user')) > 0;
  const results = await redis.pipeline().ratelimit('rl:other', 60000, 1).ratelimit('rl:other', 60000, 1).exec();
  out.pipeline = results.map(([err, v]) => (err ? String(err) : v));
  try {
    await redis.fail();
  } catch (e) {
    out.error = e.message;
  }
  // After SCRIPT FLUSH ioredis gets NOSCRIPT on EVALSHA and falls back to EVAL.
  await redis.script('FLUSH');
  out.afterFlush = await redis.ratelimit('rl:fresh', 60000, 5);
  redis.disconnect();
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
