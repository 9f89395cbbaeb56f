"""The textfile for node_exporter is replaced whole: a reader never sees part of one."""

from __future__ import annotations

import threading
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.parser import text_string_to_metric_families

from autoflow_watch.metrics import write_textfile


def test_a_reader_never_sees_a_half_written_textfile(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    series = Gauge(
        "autoflow_watch_test_series", "many series, so a write takes many syscalls", ["n"], registry=registry
    )
    last = Gauge("autoflow_watch_test_written_last", "the last series of the page", registry=registry)
    for n in range(2000):
        series.labels(str(n)).set(n)
    path = tmp_path / "autoflow-watch.prom"
    write_textfile(path, registry)
    stop = threading.Event()

    def writer() -> None:
        generation = 0
        while not stop.is_set():
            generation += 1
            last.set(generation)
            write_textfile(path, registry)

    thread = threading.Thread(target=writer)
    thread.start()
    generations = set()
    try:
        for _ in range(60):
            text = path.read_text(encoding="utf-8")
            families = {f.name: f for f in text_string_to_metric_families(text)}
            assert len(families["autoflow_watch_test_series"].samples) == 2000
            generations.add(families["autoflow_watch_test_written_last"].samples[0].value)
    finally:
        stop.set()
        thread.join()
    assert len(generations) > 1, "the file was replaced while it was read"
    assert [p.name for p in tmp_path.iterdir()] == ["autoflow-watch.prom"], "no temporary file left behind"
