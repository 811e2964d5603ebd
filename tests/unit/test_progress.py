"""core.progress: a prediction's progress read from its tqdm logs."""

from __future__ import annotations

import pytest

from core.progress import parse_progress

TQDM = (
    "Using seed: 42\n"
    "  0%|          | 0/20 [00:00<?, ?it/s]\n"
    " 45%|████▌     | 9/20 [00:01<00:02, 6.10it/s]\n"
)


def test_the_last_percentage_of_tqdm_lines_wins() -> None:
    assert parse_progress(TQDM) == pytest.approx(0.45)
    assert parse_progress(TQDM + "100%|██████████| 20/20 [00:03<00:00, 6.0it/s]\n") == 1.0


def test_a_carriage_returned_bar_reads_its_last_state() -> None:
    assert parse_progress(" 10%|█ | 2/20\r 55%|█████▌| 11/20\r") == pytest.approx(0.55)


def test_a_bar_without_percentage_falls_back_to_its_count() -> None:
    assert parse_progress("step 9/20 [00:01<00:02]") == pytest.approx(0.45)
    assert parse_progress("1/4\n3/4\n") == pytest.approx(0.75)
    assert parse_progress("0/0 then 2/8") == pytest.approx(0.25)


@pytest.mark.parametrize("logs", ["", None, 42, "Using seed: 7\nloading weights\n", "0/0", "%|"])
def test_logs_without_progress_give_none(logs: object) -> None:
    assert parse_progress(logs) is None


def test_progress_stays_within_zero_and_one() -> None:
    assert parse_progress("250%|") == 1.0
    assert parse_progress("30/20") == 1.0
    assert parse_progress("0%|") == 0.0
