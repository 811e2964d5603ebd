"""`PredictionWatch`: the job's predictions as the workflow sees them, and the ones to stop.

The provider's webhooks arrive as signals, possibly out of order and for predictions that
are not the job's current one: a create whose answer was lost and that was created again,
or an earlier run. The watch keeps the latest word on each, waits for the current one to
end (woken by a signal or polling on a timer), and cancels the others that still run.
"""

from __future__ import annotations

from temporalio import workflow

from workflows import policies
from workflows.failures import JobFailed
from workflows.patches import PATCH_PAY_ONCE
from workflows.steps import Steps

with workflow.unsafe.imports_passed_through():
    from activities.jobs import JobActivities
    from core.jobs import JobError, Prediction, PredictionStatus

TIMED_OUT = JobError(
    type="PredictionTimeout", message="the provider did not finish in time", retryable=True
)


class PredictionWatch:
    """What the workflow knows of its predictions; `current` is the one the job waits on."""

    def __init__(self, steps: Steps) -> None:
        self._steps = steps
        self._pushed: dict[str, Prediction] = {}
        self._own: set[str] = set()  # every prediction that was the job's current one
        self.current: Prediction | None = None
        self.orphans: list[str] = []

    def push(self, prediction: Prediction) -> None:
        """A webhook's prediction; a late `start` never hides an end already heard of."""
        known = self._pushed.get(prediction.id)
        if known is None or not known.status.terminal:
            self._pushed[prediction.id] = prediction

    def heard_starts(self, prediction_ids: list[str]) -> None:
        """Predictions whose `start` the row kept while the job created its own: pushed as
        a signal of each would have been (starting), so that those not the job's own are
        stopped. The row keeps them for good, so every later mirror returns them again:
        the job's own and those already stopped are left out."""
        for prediction_id in prediction_ids:
            if prediction_id not in self._own and prediction_id not in self.orphans:
                self.push(Prediction(id=prediction_id, status=PredictionStatus.STARTING))

    def adopt(self, prediction: Prediction) -> None:
        """`prediction` is now the job's current one."""
        self._own.add(prediction.id)
        self.current = prediction

    async def wait(self, *, webhook: bool) -> Prediction:
        """Sleep on a timer until a webhook or a poll finds the current prediction ended.

        With a webhook coming, polls are a safety net: the first waits the longest interval.

        Raises:
            JobFailed: the deadline passed first (PredictionTimeout), or the polls failed.
        """
        assert self.current is not None
        prediction = self.current
        interval = policies.POLL_MAXIMUM_WITH_WEBHOOK if webhook else policies.POLL_INITIAL
        longest = policies.POLL_MAXIMUM_WITH_WEBHOOK if webhook else policies.POLL_MAXIMUM
        deadline = workflow.now() + policies.PREDICTION_DEADLINE
        while not prediction.status.terminal:
            if workflow.now() >= deadline:
                heard = self._pushed.get(prediction.id)
                if (
                    heard is None
                    or not heard.status.terminal
                    or not workflow.patched(PATCH_PAY_ONCE)
                ):
                    raise JobFailed(TIMED_OUT)
                prediction = heard  # an end that came with the deadline is still honoured
                break
            try:
                await workflow.wait_condition(lambda: bool(self._pushed), timeout=interval)
            except TimeoutError:
                polled = await self._steps.run(
                    JobActivities.get_prediction,
                    prediction.id,
                    policies.GET_PREDICTION,
                    summary="poll prediction",
                )
                prediction = polled.prediction
                interval = min(interval * policies.POLL_COEFFICIENT, longest)
            else:
                prediction = self._pushed.pop(prediction.id, prediction)
                await self.cancel_orphans()
            self.current = prediction
        self.current = prediction
        return prediction

    async def cancel_orphans(self) -> None:
        """Cancel every prediction heard of that is not the job's own and still runs."""
        heard, self._pushed = self._pushed, {}
        if self.current is not None and self.current.id in heard:
            self._pushed[self.current.id] = heard.pop(self.current.id)
        running = [p for p in heard.values() if p.id not in self._own and not p.status.terminal]
        if not running or not workflow.patched(PATCH_PAY_ONCE):
            return
        for orphan in running:
            if orphan.id not in self.orphans:
                self.orphans.append(orphan.id)
                await self.cancel(orphan.id, summary="cancel orphan prediction")

    async def stop(self) -> None:
        """The job ends without its prediction: cancel it if it runs, and any orphan."""
        await self.cancel_orphans()
        if self.current is not None and not self.current.status.terminal:
            await self.cancel(self.current.id, summary="cancel prediction")

    async def cancel(self, prediction_id: str, *, summary: str) -> None:
        """Cancel at the provider, best effort: its `Cancel-After` bounds what we miss."""
        try:
            await self._steps.run(
                JobActivities.cancel_prediction,
                prediction_id,
                policies.CANCEL_PREDICTION,
                summary=summary,
                counts_as_retry=False,
            )
        except JobFailed:
            workflow.logger.warning("could not cancel prediction %s", prediction_id)
