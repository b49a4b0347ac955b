"""Celery (Debian's python3-celery, with kombu's Redis transport) runs unchanged against Sluice:
a worker process consumes tasks from the server as broker and stores results in it as backend:
plain results, a chord-free group, a failing task, a retried task, and an ETA task. kombu keeps
queues in lists (BRPOP), its unacked index in a sorted set, bindings in sets, and results are
published over pub/sub.

SLUICE_FW_REFERENCE=1 runs the same test against redis-server (to check the test itself)."""

import gc
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sluice_harness import Server, assert_eq, assert_true, main, test

HERE = Path(__file__).resolve().parent


def start_server():
    return Server(redis=os.environ.get("SLUICE_FW_REFERENCE") == "1")


@test(timeout=150)
def celery_worker_runs_tasks_with_results_failures_retries_and_eta():
    with start_server() as srv:
        os.environ["CELERY_TEST_PORT"] = str(srv.port)
        sys.path.insert(0, str(HERE / "frameworks"))
        import celery_tasks  # noqa: E402 (reads CELERY_TEST_PORT at import)

        env = dict(os.environ, PYTHONPATH=str(HERE / "frameworks"))
        log_path = Path(srv.root) / "celery-worker.log"
        with open(log_path, "wb") as log:
            worker = subprocess.Popen(
                ["/usr/bin/python3", "-m", "celery", "-A", "celery_tasks", "worker",
                 "--pool=solo", "--concurrency=1", "--without-gossip", "--without-mingle",
                 "--loglevel=INFO", "-n", f"w{os.getpid()}@localhost"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            sums = [celery_tasks.add.delay(i, 1000) for i in range(10)]
            for i, r in enumerate(sums):
                assert_eq(r.get(timeout=30), i + 1000)
            failing = celery_tasks.boom.delay()
            try:
                failing.get(timeout=30)
                raise AssertionError("boom() returned")
            except ValueError as exc:
                assert_true("always fails" in str(exc), str(exc))
            assert_eq(failing.state, "FAILURE")
            flaky = celery_tasks.flaky.delay("celery-test:flaky", 2)
            assert_eq(flaky.get(timeout=30), 3)
            started = time.time()
            later = celery_tasks.add.apply_async((40, 2), countdown=1)
            assert_eq(later.get(timeout=30), 42)
            assert_true(time.time() - started >= 0.9, "the countdown task ran early")
            # Release the results while the server is still up (their finalizers unsubscribe).
            del sums, failing, flaky, later
            gc.collect()
            celery_tasks.app.close()
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
            print(log_path.read_text(errors="replace")[-3000:] if worker.returncode else "",
                  end="")
        assert_eq(worker.returncode, 0, "the worker exits cleanly on SIGTERM")


if __name__ == "__main__":
    main()
