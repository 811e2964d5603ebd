"""The production image holds the product packages and the migrations, and nothing else.

What reaches the image is worked out from the sources, without Docker: the build context (the
repository's files as git knows them, minus what `.dockerignore` excludes, matched the way Docker
matches it), then the Dockerfile's COPY lines stage by stage. The builder's `pip install .` puts
into the venv the packages that pyproject.toml's `[tool.setuptools.packages.find]` selects among
the files the builder copied (every file of a selected package counts, though setuptools takes
only its modules); the runtime stage gets its own COPYs of the context plus what it copies from
the builder.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import subprocess
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.test_dockerfile import _instructions

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
DOCKERIGNORE = (ROOT / ".dockerignore").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PRODUCT = ("core", "api", "workflows", "activities", "worker", "mediagen")
NEVER = ("devstack/", "bench/", "tests/", "docs/")
IMAGE_MAY_HOLD = (*(f"{package}/" for package in PRODUCT), "migrations/")


def repository_files() -> list[str]:
    """The repository's files: tracked, plus untracked ones git does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return sorted({name for name in listed.split("\0") if name and (ROOT / name).is_file()})


def _docker_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore (or COPY source) pattern as a regex, translated the way moby's
    patternmatcher does: `*` and `?` stay within a path segment, `**` crosses them."""
    regex, index = "^", 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            index += 2
            index += pattern.startswith("/", index)
            regex += ".*" if index == len(pattern) else "(.*/)?"
            continue
        if char == "[" and "]" in pattern[index + 1 :]:
            end = pattern.index("]", index + 1)
            regex += pattern[index : end + 1]
            index = end + 1
            continue
        if char == "\\" and index + 1 < len(pattern):
            index += 1
            char = pattern[index]
            regex += re.escape(char)
        else:
            regex += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
        index += 1
    return re.compile(regex + "$")


def _clean(path: str) -> str:
    """filepath.Clean, relative to the context root."""
    cleaned = posixpath.normpath(path).lstrip("/")
    return "" if cleaned == "." else cleaned


def _matches(regex: re.Pattern[str], path: str) -> bool:
    """The path, or one of the directories above it, matches."""
    parts = path.split("/")
    return any(regex.match("/".join(parts[:end])) for end in range(len(parts), 0, -1))


def build_context(files: Iterable[str], dockerignore: str) -> list[str]:
    """The files Docker sends: the last .dockerignore pattern matching a file or a directory
    above it decides (`!pattern` takes it back)."""
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for line in dockerignore.splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        keep = pattern.startswith("!")
        rules.append((keep, _docker_regex(_clean(pattern.removeprefix("!").strip()))))

    def excluded(path: str) -> bool:
        verdict = False
        for keep, regex in rules:
            if _matches(regex, path):
                verdict = not keep
        return verdict

    return [path for path in files if not excluded(path)]


def selected_packages(files: Iterable[str], find: dict[str, list[str]]) -> set[str]:
    """The packages `[tool.setuptools.packages.find]` selects (namespace discovery, as setuptools'
    default for pyproject.toml): every directory reached through names without a dot."""
    include = find.get("include", ["*"])
    exclude = find.get("exclude", [])
    directories = {
        "/".join(parts[:end])
        for parts in (path.split("/")[:-1] for path in files)
        for end in range(1, len(parts) + 1)
    }
    selected = set()
    for directory in sorted(directories):
        if any("." in part for part in directory.split("/")):
            continue
        name = directory.replace("/", ".")
        wanted = any(fnmatch.fnmatchcase(name, p) for p in include)
        if wanted and not any(fnmatch.fnmatchcase(name, p) for p in exclude):
            selected.add(name)
    return selected


@dataclass
class Stage:
    name: str
    workdir: str = "/"
    files: dict[str, str] = field(default_factory=dict)  # path in the image -> context path


def _source_of(source: str, path: str) -> str | None:
    """The part of `path` that a COPY source names (the file itself or a directory above it),
    or None; "" when the source is the whole context."""
    if _clean(source) == "":
        return ""
    regex = _docker_regex(posixpath.normpath(source) if source.startswith("/") else _clean(source))
    parts = path.split("/")
    prefixes = ("/".join(parts[:end]) for end in range(len(parts), 0, -1))
    return next((prefix for prefix in prefixes if regex.match(prefix)), None)


def _copy(files: dict[str, str], sources: list[str], dest: str, workdir: str) -> dict[str, str]:
    """COPY semantics: a directory's contents go into dest; a file goes to dest/name when dest
    ends with `/` or there are several sources, else to dest itself."""
    target = posixpath.normpath(posixpath.join(workdir, dest))
    into_dir = dest.endswith("/") or len(sources) > 1
    copied = {}
    for source in sources:
        for path, origin in files.items():
            named = _source_of(source, path)
            if named is None:
                continue
            if named == path:
                name = posixpath.join(target, posixpath.basename(path)) if into_dir else target
            else:
                name = posixpath.join(target, path[len(named) :].lstrip("/"))
            copied[name] = origin
    return copied


def _install_project(stage: Stage, run: str, find: dict[str, list[str]]) -> None:
    """A RUN that pip-installs `.` puts the selected packages of the WORKDIR into the venv."""
    if not re.search(r"\bpip (?:wheel|install)\b[^&;|]*\s\.(\s|$)", run):
        return
    venv = re.search(r"-m venv (\S+)", run)
    assert venv, f"a RUN installs the project, but into which venv? {run}"
    source = {
        posixpath.relpath(path, stage.workdir): origin
        for path, origin in stage.files.items()
        if path.startswith(stage.workdir.rstrip("/") + "/")
    }
    packages = selected_packages(source, find)
    site = f"{venv[1]}/lib/python3/site-packages"
    for path, origin in source.items():
        if posixpath.dirname(path).replace("/", ".") in packages:
            stage.files[f"{site}/{path}"] = origin


def image_files(
    dockerfile: str, context: list[str], find: dict[str, list[str]]
) -> tuple[dict[str, str], list[str]]:
    """The final stage's files (path in the image -> context path), and the COPY sources that
    match nothing in the context (Docker refuses to build those)."""
    stages: dict[str, Stage] = {}
    stage = Stage("")
    unmatched: list[str] = []
    from_context = {path: path for path in context}
    for keyword, arguments in _instructions(dockerfile):
        if keyword == "FROM":
            words = arguments.split()
            stage = Stage(words[-1] if len(words) >= 3 and words[-2].upper() == "AS" else "")
            stages[stage.name or str(len(stages))] = stage
        elif keyword == "WORKDIR":
            stage.workdir = posixpath.join(stage.workdir, arguments)
        elif keyword in ("COPY", "ADD"):
            words = arguments.split()
            flags = [word for word in words if word.startswith("--")]
            *sources, dest = [word for word in words if not word.startswith("--")]
            origin = next(
                (flag.split("=", 1)[1] for flag in flags if flag.startswith("--from=")), None
            )
            pool = from_context if origin is None else stages.get(origin, Stage("")).files
            copied = _copy(pool, sources, dest, stage.workdir)
            if origin is None:
                unmatched += [s for s in sources if not _copy(pool, [s], dest, stage.workdir)]
            stage.files.update(copied)
        elif keyword == "RUN":
            _install_project(stage, arguments, find)
    return stage.files, unmatched


FIND = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
CONTEXT = build_context(repository_files(), DOCKERIGNORE)
IMAGE, UNMATCHED = image_files(DOCKERFILE, CONTEXT, FIND)
ORIGINS = set(IMAGE.values())


def _strays(origins: set[str], unmatched: list[str]) -> list[str]:
    """Everything wrong with an image's contents: sources Docker cannot find, files it must not hold."""
    outside = sorted(o for o in origins if not o.startswith(IMAGE_MAY_HOLD) and o != "alembic.ini")
    return [f"COPY of nothing: {source}" for source in unmatched] + outside


def test_the_build_context_leaves_out_the_dev_stack_bench_tests_and_docs():
    leaked = [path for path in CONTEXT if path.startswith(NEVER)]

    assert not leaked, leaked


def test_no_dev_stack_bench_test_or_doc_file_reaches_the_image():
    leaked = sorted(origin for origin in ORIGINS if origin.startswith(NEVER))

    assert not leaked, leaked


def test_the_image_holds_every_product_module_and_the_migrations():
    expected = {
        path
        for path in CONTEXT
        if (path.startswith(PRODUCT) and path.endswith(".py")) or path.startswith("migrations/")
    }

    assert {f"{package}/__init__.py" for package in PRODUCT} <= expected
    assert "migrations/env.py" in expected
    assert sorted(expected - ORIGINS) == []
    assert "alembic.ini" in ORIGINS


def test_the_image_holds_nothing_but_the_product_and_the_migrations():
    assert _strays(ORIGINS, UNMATCHED) == []


def test_packages_find_selects_exactly_the_product_packages():
    beside = ["apis/x.py", "core_dev/x.py", "workers/x.py", "devstack/x.py", "bench/x.py"]

    selected = selected_packages([*CONTEXT, *beside], FIND)

    assert {name.split(".")[0] for name in selected} == set(PRODUCT)
    assert set(PRODUCT) <= selected


@pytest.mark.parametrize(
    "line",
    ["COPY devstack/ devstack/", "COPY . .", "COPY tests/ tests/", "COPY --from=builder /src /src"],
)
@pytest.mark.parametrize("ignored", ["as is", "without devstack, bench, tests and docs"])
def test_the_check_catches_a_dockerfile_that_copies_more(line: str, ignored: str):
    dockerignore = DOCKERIGNORE
    if ignored != "as is":
        dockerignore = re.sub(r"^(devstack|bench|tests|docs)$", "", DOCKERIGNORE, flags=re.M)
    dockerfile = DOCKERFILE.replace("\nUSER ", f"\n{line}\nUSER ", 1)
    assert dockerfile != DOCKERFILE

    files, unmatched = image_files(
        dockerfile, build_context(repository_files(), dockerignore), FIND
    )

    assert _strays(set(files.values()), unmatched)
