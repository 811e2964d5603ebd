"""The custom Temporal search attributes of a job, shared by the workflow and every server setup."""

from temporalio.common import SearchAttributeKey

JOB_STATUS = SearchAttributeKey.for_keyword("JobStatus")
MODEL_NAME = SearchAttributeKey.for_keyword("ModelName")
# The tenant: lets the Temporal Web UI filter jobs by owner (`Owner = "acme"`).
OWNER = SearchAttributeKey.for_keyword("Owner")
# `generate` or `process` (core.jobs.JobKind): the Web UI lists uploads with `JobKind = "process"`.
JOB_KIND = SearchAttributeKey.for_keyword("JobKind")

# Registered wherever a Temporal server is started or set up: name -> Temporal type.
REGISTERED: dict[str, str] = {
    JOB_STATUS.name: "Keyword",
    MODEL_NAME.name: "Keyword",
    OWNER.name: "Keyword",
    JOB_KIND.name: "Keyword",
}
