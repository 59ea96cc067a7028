"""The batcher behind the access log and the metrics: in order, bounded, nothing lost on stop."""

from __future__ import annotations

import os
import threading
import time

import pytest

from firefly.telemetry.batch import Batcher


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.threads: set[str] = set()

    def __call__(self, batch: list[int]) -> None:
        self.batches.append(batch)
        self.threads.add(threading.current_thread().name)


def test_items_reach_the_handler_in_order_on_the_batchers_thread():
    recorder = Recorder()
    batcher = Batcher(recorder, "test-batcher")
    for item in range(5):
        batcher.add(item)
    deadline = time.monotonic() + 5
    while sum(map(len, recorder.batches)) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    batcher.stop()
    assert [item for batch in recorder.batches for item in batch] == [0, 1, 2, 3, 4]
    assert recorder.threads == {"test-batcher"}


def test_stop_hands_over_every_item_added_before():
    recorder = Recorder()
    batcher = Batcher(recorder, "test-batcher")
    batcher.interval = 3600  # only stop hands the items over
    for item in range(100):
        batcher.add(item)
    batcher.stop()
    assert [item for batch in recorder.batches for item in batch] == list(range(100))


def test_a_full_queue_is_handed_over_by_the_thread_that_fills_it():
    recorder = Recorder()
    batcher = Batcher(recorder, "test-batcher")
    batcher.interval, batcher.limit = 3600, 10
    for item in range(25):
        batcher.add(item)
    assert [len(batch) for batch in recorder.batches] == [10, 10]
    assert recorder.threads == {threading.current_thread().name}
    batcher.stop()
    assert [len(batch) for batch in recorder.batches] == [10, 10, 5]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_drops_the_parents_items_and_starts_its_own_thread(tmp_path):
    written = tmp_path / "child.txt"
    batcher = Batcher(lambda batch: written.write_text(repr(batch)), "test-batcher")
    batcher.interval = 3600
    batcher.add(1)  # the parent's: only the parent hands it over
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        batcher.add(2)
        batcher.stop()
        os._exit(0)
    os.waitpid(pid, 0)
    assert written.read_text() == "[2]"
    batcher.stop()
    assert written.read_text() == "[1]"
