"""Per-request fault and behaviour controls: the `fake` object inside a prediction's `input`.

The fake removes nothing from the echoed `input`, but ignores `fake` (and `fake_error`) when
rendering outputs. Unknown keys or wrong types are a 422 naming `input.fake.<key>`, so a typo
never silently turns a fault test into a happy-path test.

Behaviour of the prediction:
  latency        float s   time from create to the terminal status (overrides the settings' range)
  outcome        str       "succeeded" | "failed" | "canceled": how the prediction ends
  error          str       the error of a failed outcome (default "Prediction failed (fake)")
  output_bytes   int       serve each output as a deterministic application/octet-stream of this
                           many bytes (`out-N.bin`), streamed in chunks, instead of an image; byte
                           i is `(i * 7 + 3) % 256` pattern-repeated every 65,536 bytes, see
                           `images.pattern_chunk`

Faults of one step, where STEP is `create`, `get`, `cancel` or `download`:
  hang_STEP        int     the first N attempts sleep `hang_seconds`, then are answered normally
                           (a create that hung still creates its prediction, like a slow API)
  rate_limit_STEP  int     the next N attempts answer 429 with `Retry-After: retry_after`
  fail_STEP        int     the next N attempts answer STEP_status
  STEP_status      int     the status of fail_STEP (400-599, default 503)
  truncate_download int    the next N downloads send the full Content-Length, then half the
                           bytes, then close the connection
  lose_answer      int     the next N creates create their prediction (it runs, shows in GET
                           and the list, and calls its webhook), then close the connection
                           without any HTTP response; `true` means 1
  slow_download    int     bytes/s at which this prediction's files are sent
  hostile          str     outputs a careful client must refuse (issue #16), one of:
                           relative (`account`), api (`{base}/v1/account`), metadata
                           (169.254.169.254), private (`http://10.0.0.1/x.png`),
                           redirect_private / redirect_api (a file that 302s to
                           `http://127.0.0.1:1/` / to `/v1/account`), redirect_ok (a file
                           that 302s to the real file), html, svg (such bodies with their own
                           type), html_as_png (an HTML body served as `image/png`)
  retry_after      int s   Retry-After of rate_limit_STEP (default the settings' value)
  hang_seconds     float s length of a hang (default the settings' value)

Attempts are counted per step and key: for create, a hash of (route, model or version, full
input including `fake`), so a retry of the same request is the same key; for get and cancel, the
prediction id; for download, the file path. Attempt n of a key is hung if n <= hang, else
rate-limited if n <= hang + rate_limit, else failed if n <= hang + rate_limit + fail, else (for
downloads) truncated if within the next truncate_download, (for creates) answered with nothing
if within the next lose_answer, else normal. `POST /_fake/reset` clears the counts.
`fake_error: "message"` at the top level of `input` ends the prediction failed with that
message, and a prompt containing `[nsfw]` fails it like Replicate's safety checker.

Settings add the same faults at random: `FAKE_REPLICATE_LOSE_ANSWER_RATE` loses the answer of
that share of creates (after their prediction exists), as `TRUNCATE_RATE` does for downloads.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from devstack.fake_replicate.problems import InvalidField

STEPS = ("create", "get", "cancel", "download")
Step = Literal["create", "get", "cancel", "download"]
OUTCOMES = ("succeeded", "failed", "canceled")


@dataclass(frozen=True, slots=True)
class FakeOptions:
    latency: float | None = None
    outcome: str | None = None
    error: str | None = None
    output_bytes: int | None = None
    hang_create: int = 0
    rate_limit_create: int = 0
    fail_create: int = 0
    create_status: int = 503
    hang_get: int = 0
    rate_limit_get: int = 0
    fail_get: int = 0
    get_status: int = 503
    hang_cancel: int = 0
    rate_limit_cancel: int = 0
    fail_cancel: int = 0
    cancel_status: int = 503
    hang_download: int = 0
    rate_limit_download: int = 0
    fail_download: int = 0
    download_status: int = 503
    truncate_download: int = 0
    lose_answer: int = 0
    slow_download: int | None = None
    retry_after: int | None = None
    hang_seconds: float | None = None
    hostile: str | None = None

    def plan(self, step: Step) -> tuple[int, int, int, int]:
        """(hang, rate_limit, fail, status) for one step."""
        return (
            int(getattr(self, f"hang_{step}")),
            int(getattr(self, f"rate_limit_{step}")),
            int(getattr(self, f"fail_{step}")),
            int(getattr(self, f"{step}_status")),
        )

    def late(self, step: Step) -> int:
        """How many attempts, after the failed ones, get the step's late fault (if it has one)."""
        return {"download": self.truncate_download, "create": self.lose_answer}.get(step, 0)

    def touches(self, step: Step) -> bool:
        hang, limit, fail, _ = self.plan(step)
        return hang + limit + fail + self.late(step) > 0


NO_OPTIONS = FakeOptions()
_FLOAT_KEYS = {"latency": 3600.0, "hang_seconds": 3600.0}
_STR_KEYS = {"outcome", "error", "hostile"}
HOSTILE = (
    "relative",
    "api",
    "metadata",
    "private",
    "redirect_private",
    "redirect_api",
    "redirect_ok",
    "html",
    "svg",
    "html_as_png",
)
_INT_LIMITS = {
    "output_bytes": (0, 1 << 40),
    "slow_download": (1, 1 << 40),
    "retry_after": (0, 3600),
}
_NAMES = {f.name for f in fields(FakeOptions)}


def _int_limits(key: str) -> tuple[int, int]:
    if key.endswith("_status"):
        return 400, 599
    return _INT_LIMITS.get(key, (0, 1_000_000))


def parse_options(raw: object) -> tuple[FakeOptions, list[InvalidField]]:
    """Read `input.fake`; returns the options and any invalid fields (options are then unusable)."""
    if raw is None:
        return NO_OPTIONS, []
    if not isinstance(raw, dict):
        return NO_OPTIONS, [InvalidField("invalid_type", "input.fake", "Must be an object")]
    values: dict[str, Any] = {}
    errors: list[InvalidField] = []
    for key, value in raw.items():
        field = f"input.fake.{key}"
        if key == "lose_answer" and isinstance(value, bool):
            value = int(value)
        if key not in _NAMES:
            errors.append(
                InvalidField("additional_property_not_allowed", field, "Unknown fake key")
            )
        elif key in _STR_KEYS:
            if not isinstance(value, str):
                errors.append(InvalidField("invalid_type", field, "Must be a string"))
            elif key == "outcome" and value not in OUTCOMES:
                errors.append(InvalidField("enum", field, f"Must be one of {', '.join(OUTCOMES)}"))
            elif key == "hostile" and value not in HOSTILE:
                errors.append(InvalidField("enum", field, f"Must be one of {', '.join(HOSTILE)}"))
            else:
                values[key] = value
        elif key in _FLOAT_KEYS:
            if isinstance(value, bool) or not isinstance(value, int | float):
                errors.append(InvalidField("invalid_type", field, "Must be a number"))
            elif not 0 <= value <= _FLOAT_KEYS[key]:
                errors.append(
                    InvalidField("number_lte", field, f"Must be in 0..{_FLOAT_KEYS[key]:g}")
                )
            else:
                values[key] = float(value)
        else:
            low, high = _int_limits(key)
            if isinstance(value, bool) or not isinstance(value, int):
                errors.append(InvalidField("invalid_type", field, "Must be an integer"))
            elif not low <= value <= high:
                errors.append(InvalidField("number_lte", field, f"Must be in {low}..{high}"))
            else:
                values[key] = value
    return (NO_OPTIONS, errors) if errors else (FakeOptions(**values), [])
