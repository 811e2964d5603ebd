"""What a fault scenario found: the `Outcome` record and its summary line."""

from __future__ import annotations

from dataclasses import dataclass, field

TERMINAL = {"completed", "failed", "canceled"}


@dataclass
class Outcome:
    """What a scenario found; `line()` is its summary line."""

    name: str
    submitted: int = 0
    completed: int = 0
    failed_as_expected: int = 0
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    retries: int = 0  # retried attempts the completed jobs' rows count: the faults' footprint
    predictions: int = 0  # predictions the provider was asked to create (a retried create
    # whose first answer was lost pays for a second one)
    job_attempts: int = 0  # (job, attempt) pairs the provider's predictions name in their webhook
    running: int = 0  # predictions still running once every job has ended: orphans we pay for
    refused_ids: set[str] = field(default_factory=set)  # workflows of requests answered 503

    def line(self) -> str:
        return (
            f"fault {self.name}: submitted {self.submitted}, completed {self.completed}, "
            f"failed-as-expected {self.failed_as_expected}, lost {len(self.lost)}, "
            f"duplicate objects {len(self.duplicates)}, orphan objects {len(self.orphans)} "
            f"(settled {self.seconds:.0f} s after the fault; {self.retries} retried attempts; "
            f"{self.predictions} predictions created, {self.per_attempt:.2f} per job attempt, "
            f"{self.running} still running)"
        )

    @property
    def per_attempt(self) -> float:
        """Predictions paid for per job attempt (reruns of failed predictions are attempts)."""
        return self.predictions / self.job_attempts if self.job_attempts else 0.0

    def assert_clean(self) -> None:
        findings = [*self.lost, *self.duplicates, *self.orphans, *self.problems]
        if self.running:
            findings.append(f"{self.running} predictions still running after every job ended")
        shown = "\n  ".join(findings[:40])
        assert not findings, f"{self.line()}\n  {shown}"
