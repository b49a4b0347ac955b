"""RQ (Debian's python3-rq) runs unchanged against Sluice: jobs enqueued on two queues are run
by `rq worker --burst`, with results, failures, retries and dependent jobs. RQ keeps its queues
in lists, its registries in sorted sets, its job hashes in hashes and its worker bookkeeping in
sets, and talks to the server with MULTI/EXEC pipelines and WATCH.

SLUICE_FW_REFERENCE=1 runs the same test against redis-server (to check the test itself)."""

import os
import subprocess
import sys
from pathlib import Path

from sluice_harness import Server, assert_eq, assert_true, main, test

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "frameworks"))

import redis  # noqa: E402
from rq import Queue, Retry  # noqa: E402

import rq_jobs  # noqa: E402


def start_server():
    return Server(redis=os.environ.get("SLUICE_FW_REFERENCE") == "1")


def run_worker(srv, *queues):
    env = dict(os.environ, PYTHONPATH=str(HERE / "frameworks"), RQ_TEST_PORT=str(srv.port))
    proc = subprocess.run(
        ["/usr/bin/python3", "-m", "rq.cli", "worker", "--burst", "--url",
         f"redis://127.0.0.1:{srv.port}", "--name", f"w{os.getpid()}", *queues],
        env=env, capture_output=True, text=True, timeout=90)
    assert_eq(proc.returncode, 0, f"rq worker failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout + proc.stderr


@test(timeout=120)
def rq_worker_runs_jobs_from_two_queues_with_results_failures_retries_and_dependencies():
    with start_server() as srv:
        os.environ["RQ_TEST_PORT"] = str(srv.port)
        conn = redis.Redis(port=srv.port)
        high = Queue("high", connection=conn)
        low = Queue("low", connection=conn)

        sums = [low.enqueue(rq_jobs.add, i, 100) for i in range(5)]
        first = high.enqueue(rq_jobs.record, "parent")
        child = low.enqueue(rq_jobs.record, "child", depends_on=first)
        failing = high.enqueue(rq_jobs.boom)
        flaky = high.enqueue(rq_jobs.flaky, "rq-test:flaky", 2, retry=Retry(max=3))
        assert_eq(len(high), 3)
        assert_eq(len(low), 5)  # the dependent job waits in the deferred registry
        assert_eq(child.get_status(), "deferred")

        run_worker(srv, "high", "low")

        for i, job in enumerate(sums):
            job.refresh()
            assert_eq(job.get_status(), "finished")
            assert_eq(job.result, i + 100)
        child.refresh()
        assert_eq(child.get_status(), "finished")
        # The parent ran before its dependent job.
        assert_eq(conn.lrange("rq-test:order", 0, -1), [b"parent", b"child"])

        failing.refresh()
        assert_eq(failing.get_status(), "failed")
        assert_true("this job always fails" in (failing.exc_info or ""), failing.exc_info)
        assert_true(failing.id in high.failed_job_registry.get_job_ids(),
                    "the failed job is in the failed registry")

        flaky.refresh()
        assert_eq(flaky.get_status(), "finished")
        assert_eq(flaky.result, 3)  # failed twice, succeeded on the third run
        assert_eq(int(conn.get("rq-test:flaky")), 3)

        assert_eq(len(high), 0)
        assert_eq(len(low), 0)
        assert_eq(high.finished_job_registry.count, 2)
        assert_eq(low.finished_job_registry.count, 6)
        # Requeueing the failed job and running it again fails it again, once more.
        high.failed_job_registry.requeue(failing.id)
        assert_eq(len(high), 1)
        run_worker(srv, "high")
        failing.refresh()
        assert_eq(failing.get_status(), "failed")


if __name__ == "__main__":
    main()
