"""The progress bar of long waits: a widget in notebooks, text in a terminal (or when asked),
nothing when the output is not a terminal."""

from __future__ import annotations

from unittest import mock

from cocalc_widgets._progress import Progress, _NoProgress


def test_plain_scripts_get_no_bar():
    assert isinstance(Progress.maybe(None, "copy"), _NoProgress)
    assert isinstance(Progress.maybe(False, "copy"), _NoProgress)


def test_notebooks_get_a_bar_after_the_delay():
    with mock.patch("cocalc_widgets._progress.in_notebook", return_value=True), \
            mock.patch("IPython.display.display") as show:
        bar = Progress.maybe(None, "copying", total=4, delay=0.05)
        bar.update("waiting", done=1)
        show.assert_not_called()  # a quick wait shows nothing
        bar.start -= 1.0
        bar.update("waiting", done=2)
        show.assert_called_once()
        assert bar._bar.value == 2 and "2/4" in bar._text.value
        bar.close("done")
        assert bar._bar.bar_style == "success" and "4/4 done" in bar._text.value


def test_the_final_colour_says_the_outcome():
    for state, style in (("done", "success"), ("failed", "danger"), ("running", "warning")):
        with mock.patch("cocalc_widgets._progress.in_notebook", return_value=True), \
                mock.patch("IPython.display.display"):
            bar = Progress.maybe(True, "copy", delay=0)
            bar.update("running")
            bar.close(state)
        assert bar._bar.bar_style == style


def test_the_final_text_can_be_a_summary_instead_of_one_word():
    with mock.patch("cocalc_widgets._progress.in_notebook", return_value=True), \
            mock.patch("IPython.display.display"):
        bar = Progress.maybe(True, "copying handout to 13 projects", total=13, delay=0)
        bar.update("waiting", done=3)
        bar.close("failed", "11 done, 1 failed, 1 not started")
    assert bar._bar.bar_style == "danger" and bar._bar.value == 13
    assert bar._text.value.startswith(
        "copying handout to 13 projects: 11 done, 1 failed, 1 not started ("
    )


def test_the_text_shows_what_info_says():
    with mock.patch("cocalc_widgets._progress.in_notebook", return_value=True), \
            mock.patch("IPython.display.display"):
        bar = Progress.maybe(True, "copying", total=4, delay=0, info=lambda: "≤ 190 requests/s")
        bar.update("sending 2/4", done=0)
    assert "sending 2/4 · ≤ 190 requests/s" in bar._text.value


def test_one_bar_shows_a_whole_hand_out_sent_and_waited_for(tmp_path):
    from cocalc_widgets import CoCalcClient, copy_to_many, wait_all
    from cocalc_widgets.emulator import Emulator

    with Emulator(data_dir=tmp_path / "d", copy_delay=0.8) as emu:
        src = emu.create_project("src")
        (emu.project_path(src) / "f.txt").write_text("x")
        targets = emu.create_projects(["a", "b", "c"])
        with CoCalcClient(host=emu.url, api_key=emu.api_key) as client, \
                mock.patch("cocalc_widgets._progress.in_notebook", return_value=True), \
                mock.patch("IPython.display.display") as show:
            results = copy_to_many(client, src, "f.txt", targets, journal=False)
            wait_all(client, results)
            show.assert_called_once()  # the send's bar, which the wait went on with
            bar = results._bar
            assert bar.closed and bar._bar.bar_style == "success"
            assert bar._text.value.startswith("copying f.txt to 3 projects: 3 done (")
            # A wait that asks for no bar ends the send's bar instead of leaving it open.
            again = copy_to_many(client, src, "f.txt", [(t, "g.txt") for t in targets],
                                 journal=False, progress=True)
            again._bar.start -= 1  # shown at the next update
            wait_all(client, again, progress=False)
            assert again._bar.closed
