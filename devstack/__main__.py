"""`python -m devstack up [--deps-only] [--follow]`: the whole service in the foreground
(`make up`; `make up FOLLOW=1` adds `--follow`, which copies the worker's and the API's logs,
every access line included, to the terminal: under load that alone costs a quarter of a core).

`python -m devstack run NAME`: one of migrate/worker/api in the foreground, with the same
environment `up` gives it (`make worker`, `make api`, `make migrate`).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from types import FrameType

from devstack.echo import LogEcho
from devstack.identity import API_KEY_FILE
from devstack.servers import APP, SERVERS
from devstack.settings import StackSettings
from devstack.supervisor import Stack, StackAborted, StackError

log = logging.getLogger("devstack")


def _banner(stack: Stack, seconds: float, deps_only: bool, follow: bool) -> str:
    s, urls = stack.settings, stack.urls
    rows = [] if deps_only else [("API docs", urls["api_docs"])]
    if not deps_only:
        key_file = stack.data_dir / API_KEY_FILE
        rows.append(("API key", f"{stack.api_key}  (in {key_file})"))
    rows += [
        ("Temporal Web UI", urls["temporal_ui"]),
        ("S3 endpoint", f"{urls['s3']}  (bucket {s.s3_bucket})"),
        ("Temporal gRPC", urls["temporal"]),
        ("PostgreSQL", urls["database"]),
        ("Provider API", urls["provider"]),
    ]
    lines = [f"mediagen {'servers are' if deps_only else 'is'} up in {seconds:.1f} s"]
    lines += [f"  {label:<16} {value}" for label, value in rows]
    lines += [f"  {'Logs':<16} {stack.logs_dir}/"]
    if not follow and not deps_only:
        lines += [
            f"  {'':<16} (follow them: make up FOLLOW=1, or tail -F {stack.logs_dir}/api.log)"
        ]
    lines += ["Ctrl-C stops everything."]
    return "\n".join(lines)


def _logging(stack: Stack) -> None:
    stack.logs_dir.mkdir(parents=True, exist_ok=True)
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setFormatter(logging.Formatter("%(message)s"))
    file = logging.FileHandler(stack.logs_dir / "stack.log")
    file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(terminal)
    log.addHandler(file)
    log.setLevel(logging.INFO)


def up(deps_only: bool, follow: bool = False) -> int:
    """Start, print the URLs, supervise until SIGINT/SIGTERM/SIGHUP, stop. The exit status.

    With `follow`, the logs of the children that ask for it (worker, API) are copied to the
    terminal as they grow; without, they are only in `DATA_DIR/logs/`.
    """
    stack = Stack(StackSettings(), list(SERVERS) if deps_only else None)
    _logging(stack)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("stack: %s received, stopping", signal.Signals(signum).name)
        stack.request_stop()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    followed = [name for name in stack.names if follow and stack.spec(name).echo]
    echo = LogEcho({name: stack.log_path(name) for name in followed})
    echo.start()
    begun = time.monotonic()
    status = 0
    try:
        stack.start()
        sys.stdout.write(_banner(stack, time.monotonic() - begun, deps_only, follow) + "\n")
        sys.stdout.flush()
        stack.supervise()
    except StackAborted:
        pass
    except StackError as exc:
        log.error("stack: %s", exc)
        status = 1
    finally:
        stack.stop()
        echo.stop()
    log.info("stack: everything stopped")
    return status


def run(name: str) -> None:
    """Replace this process with child `name`, configured as `up` would configure it."""
    settings = StackSettings()
    stack = Stack(settings, [name])
    argv, spec = stack.spec(name).argv, stack.spec(name)
    assert argv is not None
    if spec.cwd is not None:
        os.chdir(spec.cwd)
    os.execve(argv[0], argv, {**os.environ, **stack.env, **spec.env})


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start everything and supervise it")
    up_parser.add_argument("--deps-only", action="store_true", help="only the servers")
    up_parser.add_argument(
        "--follow", action="store_true", help="copy the worker's and the API's logs here"
    )
    run_parser = commands.add_parser("run", help="run one app process in the foreground")
    run_parser.add_argument("name", choices=APP)
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(args.deps_only, args.follow)
    run(args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
