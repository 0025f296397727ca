import threading

from sandbox.kube.workqueue import ShutDown, WorkQueue


def test_keys_are_deduplicated() -> None:
    queue = WorkQueue()
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert len(queue) == 2


def test_a_key_is_never_processed_twice_at_once() -> None:
    queue = WorkQueue()
    queue.add("a")
    key = queue.get()
    queue.add("a")  # re-added while processing: held back until done()
    assert len(queue) == 0
    queue.done(key)
    assert len(queue) == 1 and queue.get() == "a"


def test_rate_limited_back_off_grows_per_key_and_forget_resets() -> None:
    queue = WorkQueue(base_delay=0.01, max_delay=1.0)
    assert queue.add_rate_limited("a") == 0.01
    assert queue.add_rate_limited("a") == 0.02
    assert queue.add_rate_limited("b") == 0.01
    queue.forget("a")
    assert queue.add_rate_limited("a") == 0.01


def test_delayed_keys_arrive_later() -> None:
    queue = WorkQueue()
    queue.add_after("late", 0.05)
    queue.add("now")
    assert queue.get() == "now"
    assert queue.get() == "late"


def test_shutdown_wakes_waiting_workers() -> None:
    queue = WorkQueue()
    raised = threading.Event()

    def worker() -> None:
        try:
            queue.get()
        except ShutDown:
            raised.set()

    thread = threading.Thread(target=worker)
    thread.start()
    queue.shutdown()
    thread.join(timeout=5)
    assert raised.is_set()


def test_run_worker_survives_failures_and_stops_on_shutdown() -> None:
    from sandbox.kube.workqueue import run_worker

    queue = WorkQueue()
    seen: list[str] = []
    failed: list[str] = []

    def sync(key: str) -> None:
        seen.append(key)
        if key == "bad":
            raise RuntimeError("boom")
        if key == "last":
            queue.shutdown()

    for key in ("bad", "good", "last"):
        queue.add(key)
    run_worker(queue, sync, lambda key, err: failed.append(f"{key}: {err}"))
    assert seen == ["bad", "good", "last"] and failed == ["bad: boom"]
