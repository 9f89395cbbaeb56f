"""A sealed kernel's run view: upstream notebooks copied in, its regular files copied out, links never followed."""

from __future__ import annotations

import os

from autoflow_watch.executor.run_view import collect_written, stage_upstream


def test_upstream_paths_point_at_copies_and_other_parameters_stay(tmp_path):
    run, view = tmp_path / "run", tmp_path / "view"
    run.mkdir()
    view.mkdir()
    (run / "aggregate.ipynb").write_text("{}")
    staged = stage_upstream(
        {"aggregate": str(run / "aggregate.ipynb"), "region": "admin2"}, [run / "aggregate.ipynb"], view
    )
    assert staged == {"aggregate": str(view / "aggregate.ipynb"), "region": "admin2"}
    (view / "aggregate.ipynb").write_text("tampered")
    assert (run / "aggregate.ipynb").read_text() == "{}", "a copy, not a link: the run's file is untouched"


def test_only_regular_files_come_back_and_links_are_never_followed(tmp_path):
    run, view = tmp_path / "run", tmp_path / "view"
    run.mkdir()
    (view / "sub").mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("the daemon's")
    (view / "result.csv").write_text("a,b\n")
    (view / "sub" / "deep.txt").write_text("deep")
    (view / "link.txt").symlink_to(secret)
    (view / "linked-folder").symlink_to(tmp_path)
    os.mkfifo(view / "fifo")
    (run / "report.ipynb").write_text("the executed notebook")
    (view / "report.ipynb").write_text("forged")
    taken = collect_written(view, run, {})
    assert sorted(taken) == ["result.csv", "sub/deep.txt"]
    assert not (run / "link.txt").exists() and not (run / "fifo").exists() and not (run / "linked-folder").exists()
    assert (run / "report.ipynb").read_text() == "the executed notebook", "an existing file is never replaced"
