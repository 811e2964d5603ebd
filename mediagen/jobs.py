"""`mediagen generate | upload | status | watch | ls | cancel | download`: the service's users.

Output is for people on a terminal (a table, a live progress bar) and JSON otherwise: with
`--json`, or when stdout is not a terminal, each job document is printed as one line of
JSON. An error is one line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from mediagen.api_client import ApiClient, ClientError, ClientSettings

TERMINAL = {"completed", "failed", "canceled"}
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON, one document per line.")]
WaitOption = Annotated[bool, typer.Option("--wait", help="Follow the job until it ends.")]

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@contextmanager
def api() -> Iterator[ApiClient]:
    """A client of the configured service; any ClientError ends the command on one line."""
    client: ApiClient | None = None
    try:
        client = ApiClient(ClientSettings())
        yield client
    except ClientError as exc:
        err.print(f"mediagen: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        if client is not None:
            client.close()


def as_json(wanted: bool) -> bool:
    return wanted or not sys.stdout.isatty()


def emit(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def show(job: dict[str, Any], json_out: bool) -> None:
    """One job: its JSON line, or a short summary for a person."""
    if json_out:
        emit(job)
        return
    table = Table(box=box.SIMPLE, show_header=False)
    for label, value in (
        ("id", job["id"]),
        ("kind", job.get("kind", "generate")),
        ("status", job["status"]),
        ("prompt", job.get("prompt") or (job.get("parameters") or {}).get("filename", "")),
        ("progress", f"{job.get('progress', 0):.0%}"),
        ("retries", str(job.get("retry_count", 0))),
        ("error", (job.get("error") or {}).get("message", "")),
    ):
        if value:
            table.add_row(label, str(value))
    for index, output in enumerate(job.get("outputs") or []):
        table.add_row(f"output {index}", output["url"])
    for variant in job.get("variants") or []:
        table.add_row(f"{variant['name']} of {variant['output']}", variant["url"])
    out.print(table)


def follow(client: ApiClient, job: dict[str, Any], json_out: bool) -> dict[str, Any]:
    """Follow a job on its events stream to its end: a progress bar, or JSON lines."""
    if json_out:
        for event in client.events(job["id"]):
            emit(event.job)
            job = event.job
        return job
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%")
    ) as bar:
        task = bar.add_task(job["status"], total=1.0)
        for event in client.events(job["id"]):
            job = event.job
            bar.update(task, completed=job.get("progress") or 0.0, description=job["status"])
    return job


def waited(client: ApiClient, job: dict[str, Any], json_out: bool) -> dict[str, Any]:
    """Follow the job; Ctrl-C asks whether to cancel it or leave it running."""
    try:
        return follow(client, job, json_out)
    except KeyboardInterrupt:
        if typer.confirm(f"\ncancel job {job['id']}?", default=False, err=True):
            return client.cancel(job["id"])
        err.print(f"job {job['id']} goes on: mediagen watch {job['id']}", markup=False)
        raise typer.Exit(130) from None


def parameters(pairs: list[str]) -> dict[str, Any]:
    """`-p key=value` pairs; a value that reads as JSON (a number, true) is taken as such."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="-p")
        try:
            parsed[name] = json.loads(value)
        except ValueError:
            parsed[name] = value
    return parsed


def generate(
    prompt: Annotated[str, typer.Argument(help="What to generate.")],
    param: Annotated[list[str], typer.Option("-p", help="A model parameter: key=value.")] = [],  # noqa: B006
    model: Annotated[str | None, typer.Option("--model", help="owner/name[:version]")] = None,
    wait: WaitOption = False,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Download outputs here.")] = None,
    json_: JsonOption = False,
) -> None:
    """Submit a generation job (with --wait or --out, follow it with a progress bar)."""
    body: dict[str, Any] = {"prompt": prompt, "parameters": parameters(param)}
    if model:
        body["model_name"] = model
    json_out = as_json(json_)
    with api() as client:
        job = client.generate(body)
        if wait or out_dir:
            job = waited(client, job, json_out)
            if out_dir and job["status"] == "completed":
                save_outputs(client, job, out_dir, None, json_out)
        if not (wait or out_dir) or not json_out:
            show(job, json_out)
        if job["status"] in {"failed", "canceled"}:
            raise typer.Exit(1)


def upload(
    file: Annotated[Path, typer.Argument(help="The image to process.")],
    variants: Annotated[str | None, typer.Option(help="Presets, comma-separated.")] = None,
    wait: WaitOption = False,
    json_: JsonOption = False,
) -> None:
    """Upload an image to be made into variants."""
    json_out = as_json(json_)
    with api() as client:
        job = client.upload(file, variants)
        if wait:
            job = waited(client, job, json_out)
        if not wait or not json_out:
            show(job, json_out)
        if job["status"] in {"failed", "canceled"}:
            raise typer.Exit(1)


def status(job_id: str, json_: JsonOption = False) -> None:
    """A job's document."""
    with api() as client:
        show(client.status(job_id), as_json(json_))


def watch(job_id: str, json_: JsonOption = False) -> None:
    """Follow a job to its end (its events stream)."""
    json_out = as_json(json_)
    with api() as client:
        job = follow(client, client.status(job_id), json_out)
        if not json_out:
            show(job, json_out)


def ls(
    status_: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    kind: Annotated[str | None, typer.Option(help="generate or process.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    json_: JsonOption = False,
) -> None:
    """The caller's jobs, newest first."""
    with api() as client:
        page = client.jobs(status=status_, kind=kind, limit=limit)
    if as_json(json_):
        for job in page["items"]:
            emit(job)
        return
    table = Table("id", "kind", "status", "created", "prompt", box=box.SIMPLE_HEAD)
    for job in page["items"]:
        prompt = job.get("prompt") or (job.get("parameters") or {}).get("filename", "")
        table.add_row(job["id"], job.get("kind", ""), job["status"], job["created_at"], prompt)
    out.print(table)
    out.print(f"{len(page['items'])} of {page['total']}")


def cancel(job_id: str, json_: JsonOption = False) -> None:
    """Cancel a pending or processing job."""
    with api() as client:
        show(client.cancel(job_id), as_json(json_))


def download(
    job_id: str,
    out_dir: Annotated[Path, typer.Option("-o", "--out", help="Where to save.")] = Path("."),
    variant: Annotated[str | None, typer.Option(help="A variant (thumbnail, …).")] = None,
    json_: JsonOption = False,
) -> None:
    """Save a completed job's outputs (or one variant of each) into a directory."""
    with api() as client:
        save_outputs(client, client.status(job_id), out_dir, variant, as_json(json_))


def save_outputs(
    client: ApiClient, job: dict[str, Any], out_dir: Path, variant: str | None, json_out: bool
) -> None:
    if job["status"] != "completed":
        raise ClientError(f"job {job['id']} is {job['status']}: media exists once completed")
    if variant:
        items = [v for v in job.get("variants") or [] if v["name"] == variant]
        if not items:
            raise ClientError(f"job {job['id']} has no variant {variant!r}")
    else:
        items = job.get("outputs") or []
    out_dir.mkdir(parents=True, exist_ok=True)
    for item in items:
        name = item["url"].split("?", 1)[0].rsplit("/", 1)[-1]
        target = out_dir / (f"{job['id']}-{name}" if variant else name)
        size = client.save(item["url"], target)
        if json_out:
            emit({"job_id": job["id"], "path": str(target), "file_size": size})
        else:
            out.print(f"saved {target} ({size} bytes)", markup=False)


COMMANDS: tuple[Callable[..., None], ...] = (
    generate,
    upload,
    status,
    watch,
    ls,
    cancel,
    download,
)
