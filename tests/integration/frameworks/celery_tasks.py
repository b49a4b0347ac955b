"""Celery app and tasks for test_framework_celery.py: the broker and the result backend are the
server under test (CELERY_TEST_PORT)."""

import os

from celery import Celery

_url = f"redis://127.0.0.1:{os.environ.get('CELERY_TEST_PORT', '6379')}/0"
app = Celery("celery_tasks", broker=_url, backend=_url)
app.conf.update(
    broker_connection_retry_on_startup=True,
    result_expires=3600,
)


@app.task
def add(a, b):
    return a + b


@app.task
def boom():
    raise ValueError("this task always fails")


@app.task(bind=True, max_retries=3, default_retry_delay=0)
def flaky(self, key, failures):
    """Fails (and retries) the first `failures` times, counting attempts in the server."""
    import redis
    n = redis.Redis(port=int(os.environ["CELERY_TEST_PORT"])).incr(key)
    if n <= failures:
        raise self.retry(exc=RuntimeError(f"attempt {n}"), countdown=0)
    return n
