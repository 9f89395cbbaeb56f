from autoflow_watch.daemon.status import progress_bar


def test_progress_bar_shows_done_of_total():
    assert progress_bar(5, 10, width=10) == "[#####-----] 5/10 runs"


def test_progress_bar_never_divides_by_zero_or_overflows():
    assert progress_bar(0, 0, width=4) == "[----] 0/0 runs"
    assert progress_bar(7, 3, width=4) == "[####] 7/7 runs"
