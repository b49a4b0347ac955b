// BullMQ end to end (run with NODE_PATH=build/node/node_modules) against the server on port process.argv[2]: a Worker processes plain,
// delayed, retried and failing jobs added by a Queue; prints a JSON summary and exits 0 when
// every expectation held (1 with the reason otherwise).
"use strict";
const { Queue, QueueEvents, Worker } = require("bullmq");

const connection = { host: "127.0.0.1", port: Number(process.argv[2]), maxRetriesPerRequest: null };
const name = `jobs-${process.pid}`;
const attemptsSeen = new Map();

function fail(why) {
  console.error(`FAILED: ${why}`);
  process.exit(1);
}

async function main() {
  const queue = new Queue(name, { connection });
  queue.setMaxListeners(100);
  const events = new QueueEvents(name, { connection });
  events.setMaxListeners(100);
  await events.waitUntilReady();
  const worker = new Worker(
    name,
    async (job) => {
      attemptsSeen.set(job.id, (attemptsSeen.get(job.id) ?? 0) + 1);
      if (job.name === "boom") throw new Error("this job always fails");
      if (job.name === "flaky") {
        if (job.attemptsMade < 2) throw new Error(`attempt ${job.attemptsMade + 1}`);
        return "ok";
      }
      if (job.name === "delayed") return { ranAt: Date.now() };
      return job.data.a + job.data.b;
    },
    { connection, concurrency: 4 },
  );

  const plain = await queue.addBulk(
    Array.from({ length: 20 }, (_, i) => ({ name: "add", data: { a: i, b: 1000 } })),
  );
  const delayedAddedAt = Date.now();
  const delayed = await queue.add("delayed", {}, { delay: 1000 });
  const flaky = await queue.add("flaky", {}, { attempts: 3, backoff: { type: "fixed", delay: 100 } });
  const boom = await queue.add("boom", {}, { attempts: 1 });

  const results = await Promise.all(plain.map((j) => j.waitUntilFinished(events, 30000)));
  results.forEach((r, i) => {
    if (r !== i + 1000) fail(`job ${i} returned ${r}`);
  });
  const delayedResult = await delayed.waitUntilFinished(events, 30000);
  if (delayedResult.ranAt - delayedAddedAt < 950) fail("the delayed job ran early");
  if ((await flaky.waitUntilFinished(events, 30000)) !== "ok") fail("the retried job's result");
  try {
    await boom.waitUntilFinished(events, 30000);
    fail("boom finished");
  } catch (err) {
    if (!String(err.message).includes("always fails")) fail(`boom failed with ${err.message}`);
  }
  const counts = await queue.getJobCounts("completed", "failed", "delayed", "wait", "active");
  const boomJob = await queue.getJob(boom.id);
  const flakyJob = await queue.getJob(flaky.id);
  const summary = {
    counts,
    flakyAttempts: flakyJob.attemptsMade,
    boomReason: boomJob.failedReason,
    boomState: await boomJob.getState(),
  };
  console.log(JSON.stringify(summary));
  if (counts.completed !== 22 || counts.failed !== 1 || counts.wait !== 0 || counts.delayed !== 0) {
    fail(`counts ${JSON.stringify(counts)}`);
  }
  if (flakyJob.attemptsMade !== 3 || attemptsSeen.get(flaky.id) !== 3) fail("flaky attempts");
  await worker.close();
  await events.close();
  await queue.close();
  process.exit(0);
}

main().catch((err) => fail(err.stack || String(err)));
