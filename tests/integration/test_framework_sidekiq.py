"""Sidekiq (Debian's ruby-sidekiq) runs unchanged against Sluice: a Sidekiq process runs jobs
from two queues, a scheduled job runs when due, a failing job lands in the retry set and a job
without retries in the dead set, and Sidekiq's API reports the stats. Sidekiq keeps queues in
lists (BRPOP), the schedule, retry and dead sets in sorted sets, and its process registry in
sets and hashes.

SLUICE_FW_REFERENCE=1 runs the same test against redis-server (to check the test itself)."""

import os
import signal
import subprocess
import time
from pathlib import Path

from sluice_harness import Server, assert_eq, assert_true, main, test, wait_until

HERE = Path(__file__).resolve().parent
JOBS = HERE / "frameworks" / "sidekiq_jobs.rb"
CLIENT = HERE / "frameworks" / "sidekiq_client.rb"


def start_server():
    return Server(redis=os.environ.get("SLUICE_FW_REFERENCE") == "1")


def ruby(env, *args):
    proc = subprocess.run(["ruby", "-W0", str(CLIENT), *args], env=env, capture_output=True,
                          text=True, timeout=60)
    assert_eq(proc.returncode, 0, f"ruby {args} failed:\n{proc.stdout}\n{proc.stderr}")
    return dict(line.split("=", 1) for line in proc.stdout.splitlines())


@test(timeout=150)
def sidekiq_runs_jobs_schedules_retries_and_dead_jobs():
    with start_server() as srv:
        env = dict(os.environ, REDIS_URL=f"redis://127.0.0.1:{srv.port}/0")
        r = srv.client()
        assert_eq(ruby(env, "enqueue"), {"default": "12", "critical": "1", "scheduled": "1"})
        log_path = Path(srv.root) / "sidekiq.log"
        enqueued_at = time.time()
        with open(log_path, "wb") as log:
            worker = subprocess.Popen(
                ["sidekiq", "-r", str(JOBS), "-c", "2", "-q", "critical,2", "-q", "default"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(lambda: r.llen("sidekiq-test:sums") == 11, timeout=30,
                       msg="the 11 AddWorker jobs ran")
            assert_eq(sorted(int(x) for x in r.lrange("sidekiq-test:sums", 0, -1)),
                      sorted([i + 1000 for i in range(10)] + [2]))
            wait_until(lambda: r.get("sidekiq-test:scheduled") is not None, timeout=30,
                       msg="the scheduled job ran")
            ran_at = float(r.get("sidekiq-test:scheduled").decode().split(":")[1])
            assert_true(ran_at - enqueued_at >= 0.9, "the scheduled job ran before it was due")
            wait_until(lambda: ruby(env, "stats")["failed"] == "2", timeout=30,
                       msg="both failing jobs failed")
            stats = ruby(env, "stats")
            assert_eq(stats["retry"], "1")
            assert_eq(stats["dead"], "1")
            assert_eq(stats["retry_class"], "FailingWorker")
            assert_eq(stats["retry_error"], "this job always fails")
            assert_eq(stats["enqueued"], "0")
            assert_eq(stats["processed"], "14")
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        log = log_path.read_text(errors="replace")
        assert_eq(worker.returncode, 0, f"sidekiq exits cleanly on SIGTERM:\n{log[-3000:]}")
        assert_true("this job always fails" in log, "the failure is logged")


if __name__ == "__main__":
    main()
