// BullMQ end to end against the server on argv[2]: plain, delayed and retried jobs added through
// BullMQ's Lua scripts (EVALSHA, cmsgpack), processed by a Worker. Prints one JSON line.
const { Queue, Worker, QueueEvents } = require('bullmq');

async function main() {
  const connection = { host: '127.0.0.1', port: Number(process.argv[2]) };
  const name = 'sluice-e2e';
  const queue = new Queue(name, { connection });
  await queue.obliterate({ force: true }).catch(() => {});
  const done = [];
  const attempts = {};
  const worker = new Worker(
    name,
    async (job) => {
      attempts[job.name] = (attempts[job.name] || 0) + 1;
      if (job.name === 'retried' && attempts[job.name] < 3) throw new Error('try again');
      return { doubled: job.data.n * 2 };
    },
    { connection },
  );
  const finished = new Promise((resolve) => {
    worker.on('completed', (job, result) => {
      done.push({ name: job.name, result, attemptsMade: job.attemptsMade });
      if (done.length === 3) resolve();
    });
  });
  const added = Date.now();
  await queue.add('plain', { n: 1 });
  await queue.add('delayed', { n: 2 }, { delay: 500 });
  await queue.add('retried', { n: 3 }, { attempts: 3, backoff: { type: 'fixed', delay: 100 } });
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 20000));
  await Promise.race([finished, timeout]);
  const delayedJob = done.find((d) => d.name === 'delayed');
  const counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'delayed', 'active');
  await worker.close();
  await queue.close();
  done.sort((a, b) => a.name.localeCompare(b.name));
  console.log(JSON.stringify({ done, counts, delayedAfterMs: Date.now() - added, delayed: !!delayedJob }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
