"""Progress lines of long commands: ETA arithmetic, plain lines off a terminal, the bar on one."""

import io

import pytest

from brainlike.progress import (
    ProgressDisplay,
    eta_seconds,
    format_duration,
    progress_line,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_eta_is_the_mean_step_time_times_the_steps_left():
    # 120 of 400 batches in 41 s: 280 left at 41/120 s each = 95.67 s
    assert eta_seconds(41.0, 120, 400) == pytest.approx(280 * 41 / 120)
    assert eta_seconds(10.0, 0, 400) is None  # nothing done yet: no estimate
    assert eta_seconds(10.0, 5, None) is None
    assert eta_seconds(10.0, 400, 400) == 0.0


def test_durations_read_as_clock_times():
    assert format_duration(41) == "00:41"
    assert format_duration(95.67) == "01:36"
    assert format_duration(3600 + 62) == "1:01:02"
    assert format_duration(None) == "--:--"


def test_a_line_names_the_stage_the_count_the_percentage_and_the_eta():
    line = progress_line("train reset4: epoch 2/5", 120, 400, 41.0, unit="batch", info="loss 0.412")
    assert line == (
        "train reset4: epoch 2/5 batch 120/400 (30%) 00:41 elapsed, ETA 01:36, loss 0.412"
    )
    assert progress_line("fits", 4, 4, 75, finished=True) == "fits 4/4 (100%) done in 01:15"


def test_off_a_terminal_lines_come_at_most_every_interval_and_at_the_end():
    clock, out = FakeClock(), io.StringIO()
    with ProgressDisplay(stream=out, clock=clock, interval=10) as bar:
        assert not bar.terminal
        task = bar.add_task("activations", total=100, unit="image")
        for _ in range(100):  # one image every 0.5 s: lines at 10, 20, ... s and at the end
            clock.now += 0.5
            bar.advance(task)
    lines = out.getvalue().splitlines()
    assert len(lines) == 5  # at 20, 40, 60, 80 images, then the closing line
    assert lines[0] == "activations image 20/100 (20%) 00:10 elapsed, ETA 00:40"
    assert lines[-1] == "activations image 100/100 (100%) done in 00:50"


def test_a_stage_closed_by_hand_reports_its_summary_once():
    clock, out = FakeClock(), io.StringIO()
    with ProgressDisplay(stream=out, clock=clock, interval=30) as bar:
        task = bar.add_task("train x: epoch 1/1", total=4, unit="batch", auto_end=False)
        for _ in range(4):
            clock.now += 1
            bar.update(task, advance=1, info="loss 1.0")
        assert out.getvalue() == ""  # the last batch alone does not close the epoch
        bar.end(task, info="loss 1.0 test 0.5")
        bar.end(task)
    assert (
        out.getvalue() == "train x: epoch 1/1 batch 4/4 (100%) done in 00:04, loss 1.0 test 0.5\n"
    )


def test_a_disabled_display_prints_nothing():
    out = io.StringIO()
    with ProgressDisplay(False, stream=out, interval=0) as bar:
        task = bar.add_task("x", total=2)
        bar.advance(task, 2)
    assert out.getvalue() == ""


def test_in_a_terminal_the_rich_bar_draws_and_nested_displays_share_it():
    out = io.StringIO()
    with ProgressDisplay(stream=out, terminal=True) as outer:
        run = outer.add_task("suite: runs", total=1)
        with ProgressDisplay(stream=out, terminal=True, transient=True) as inner:
            assert inner._rich is outer._rich  # one live display, not two
            inner.advance(inner.add_task("train a[1]: epoch 1/1", total=3), 3)
        outer.advance(run)
    text = out.getvalue()
    assert "suite: runs ━" in text and "elapsed" not in text  # rich's bar, not plain lines
    assert "train a[1]" not in text  # the transient inner task left with its display


def test_a_bad_interval_in_the_environment_is_refused(monkeypatch):
    monkeypatch.setenv("BRAINLIKE_PROGRESS_SECONDS", "soon")
    with pytest.raises(ValueError, match="BRAINLIKE_PROGRESS_SECONDS"):
        ProgressDisplay()
    monkeypatch.setenv("BRAINLIKE_PROGRESS_SECONDS", "2")
    assert ProgressDisplay().interval == 2.0


def test_train_written_to_a_log_file_prints_plain_lines_with_an_eta(tmp_path):
    import os
    import subprocess
    import sys

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(
        "name: tiny\n"
        "data: {dataset: digits, input_size: 8, train_size: 120, test_size: 30}\n"
        "model: {levels: [{subnets: 4, outputs: 16, subnet: small, channels: [4]}], "
        "master: small, master_channels: [8]}\n"
        "train: {batch_size: 30, epochs: 2, snapshots_per_epoch: 1, device: cpu}\n"
        "analysis: {n_shuffles: 2}\n"
    )
    log = tmp_path / "log"
    env = {**os.environ, "BRAINLIKE_PROGRESS_SECONDS": "0", "PYTHONPATH": os.getcwd()}
    with log.open("w") as f:  # `brainlike train tiny.yaml > log`: not a terminal
        subprocess.run(
            [
                sys.executable,
                "-m",
                "brainlike.cli",
                "train",
                str(cfg),
                "--out",
                str(tmp_path / "r"),
            ],
            stdout=f,
            stderr=subprocess.STDOUT,
            env=env,
            check=True,
        )
    lines = log.read_text().splitlines()
    assert any(
        line.startswith("train tiny: epoch 2/2 batch 2/4 (50%) ") and ", ETA " in line
        for line in lines
    ), lines
    assert any(
        line.startswith("train tiny: epoch 1/2 batch 4/4 (100%) done in ") and " test " in line
        for line in lines
    ), lines
    assert not any("━" in line or "\x1b[" in line for line in lines)  # no live-bar remnants
