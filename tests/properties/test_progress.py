"""Progress inside a property: nothing happens without a listener; a listener gets the reports throttled, always
the last one, and only inside its block; a block without a callback leaves the outer listener in place."""

from __future__ import annotations

from mlipscope.properties.progress import progress_reporter, report_progress


def test_reports_go_to_the_installed_callback_only_inside_its_block():
    report_progress("frames", 1, 2)  # no listener: nothing happens, nothing raises
    seen = []
    with progress_reporter(lambda *r: seen.append(r), min_interval_s=0.0):
        report_progress("frames", 1, 2)
        with progress_reporter(None):  # no callback of its own: the outer one still listens
            report_progress("frames", 2, 2)
    report_progress("frames", 3, 3)
    assert seen == [("frames", 1, 2), ("frames", 2, 2)]


def test_reports_are_throttled_but_the_last_always_arrives():
    seen = []
    with progress_reporter(lambda *r: seen.append(r), min_interval_s=3600.0):
        for done in range(1, 101):
            report_progress("frames", done, 100)
    assert seen == [("frames", 1, 100), ("frames", 100, 100)]
