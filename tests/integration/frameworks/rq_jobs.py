"""Job functions for test_framework_rq.py: imported by the `rq worker` processes."""

import os

import redis


def _conn():
    return redis.Redis(port=int(os.environ["RQ_TEST_PORT"]))


def add(a, b):
    return a + b


def record(name):
    """Appends name to a list, so a test can see the order jobs ran in."""
    _conn().rpush("rq-test:order", name)
    return name


def boom():
    raise ValueError("this job always fails")


def flaky(key, failures):
    """Fails the first `failures` times it runs (counted in Redis), then succeeds."""
    n = _conn().incr(key)
    if n <= failures:
        raise RuntimeError(f"attempt {n} fails")
    return n
