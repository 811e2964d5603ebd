"""A prediction's progress, read from its logs (pure: no I/O).

Replicate's models print tqdm bars, ` 45%|████▌     | 9/20 [00:01<00:02, 6.1it/s]`, and a
prediction's `logs` holds every line so far: progress is the last percentage found, or,
where a bar prints no percentage, its last `done/total` count.
"""

from __future__ import annotations

import re

_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)%")
_COUNT = re.compile(r"\b(\d+)/(\d+)\b")


def parse_progress(logs: object) -> float | None:
    """Progress in 0..1 from a prediction's logs; None when they show none."""
    if not isinstance(logs, str) or not logs:
        return None
    percents = _PERCENT.findall(logs)
    if percents:
        return _clamped(float(percents[-1]) / 100)
    for done, total in reversed(_COUNT.findall(logs)):
        if int(total) > 0:
            return _clamped(int(done) / int(total))
    return None


def _clamped(value: float) -> float:
    return min(max(value, 0.0), 1.0)
