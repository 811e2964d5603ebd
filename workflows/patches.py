"""Changes to the job workflow made while jobs may be in flight, each behind `workflow.patched`.

Histories recorded before a patch take its old path on replay; tests/replay keeps histories
of both sides. Once no job started before a patch can still run, deprecate it, then remove it.
"""

# A job cancelled while its prediction is being created still learns the prediction's id,
# so it can cancel it at the provider.
PATCH_CREATE_SURVIVES_CANCEL = "create-survives-cancel"
# The user's webhook hears of every end (failed, canceled), not only of completion.
PATCH_NOTIFY_EVERY_END = "notify-webhook-on-every-end"
# The status mirror and the metadata document run as local activities: in the worker,
# within the workflow task, with no round trip through Temporal's task queues (three
# history writes and a workflow task fewer each; docs/BENCHMARKS.md, "local-steps").
PATCH_LOCAL_STEPS = "mirror-and-metadata-as-local-activities"
# Pay once: a create names its job attempt in the webhook and, after an ambiguous failure,
# adopts the prediction an earlier try started (activity `start_prediction`, with the
# provider's `Cancel-After`); predictions that are not the job's current one are cancelled
# and listed in its metadata; a failing job cancels its running prediction; after a rerun
# the row names the current prediction. `create_prediction` stays registered for jobs
# started before it, until no such job can run.
PATCH_PAY_ONCE = "pay-once"
# A job's end, once decided, is final: a cancel that arrives while the `completed` or `failed`
# mirror (or the user's webhook) runs is ignored, so the row and the workflow agree.
PATCH_ENDS_ARE_FINAL = "ends-are-final"
# Outputs within the job's limits (MAX_OUTPUTS, MAX_OUTPUT_BYTES), all or nothing: a job
# failing in its store step deletes the outputs it had stored (activity `delete_outputs`).
PATCH_OUTPUT_BOUNDS = "output-bounds"
# Nothing heard of outlives the job: a prediction that is not the job's own and whose webhook
# arrives while the job's end is being recorded is cancelled before the workflow closes.
# (Once it has closed, the API cancels what a webhook names: a signal finds no workflow.)
PATCH_LAST_WORD = "orphans-heard-at-the-end"
# Every generated image gets variants (`thumbnail`, `preview`): a ProcessImage child workflow
# after the outputs are stored; what it could not make is listed with the job, never fatal.
PATCH_VARIANTS = "variants-of-generated-images"
# A `start` webhook that came while the job was creating its prediction is kept on the row
# instead of signalled (migration 0008); the `processing` mirror returns those of predictions
# not the job's own, and the job stops them as it would a signalled one.
PATCH_STARTS_HEARD = "starts-heard-on-the-row"
# An upload may name a `webhook_url`: its ProcessImage workflow tells it of the job's end.
PATCH_UPLOAD_WEBHOOK = "upload-webhook"
# A generated job's metadata document is written after its variants are made, and lists them
# (and those that failed) as an upload's does.
PATCH_METADATA_LISTS_VARIANTS = "metadata-lists-variants"
