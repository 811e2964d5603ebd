"""docker-compose.yml: valid Compose, pinned images, interpolation backed by `.env`, a safe start
order, and no secret of its own: production fails closed until every secret is set.

Offline and without Docker: the file is validated against the Compose Specification schema that
check-jsonschema vendors, and read with PyYAML (which resolves the `<<` merge keys).
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]
from dotenv import dotenv_values

from core.search_attributes import REGISTERED

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_PATH = ROOT / "docker-compose.yml"
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_PATH.read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOTENV = dotenv_values(ROOT / ".env")

# `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?err}`, `${NAME?err}`, `${NAME:+x}`.
BRACED = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
BARE = re.compile(r"\$(?P<name>[A-Za-z_][A-Za-z0-9_]*)")
# The secrets production must set itself: compose requires each (`${NAME:?message}`) and
# neither the compose file nor `.env` holds a value for it, development or otherwise.
SECRETS = ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "S3_SECRET_KEY", "MEDIA_SIGNING_SECRETS")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN")


def _strings(node: Any) -> list[str]:
    """Every string value in the parsed file (Compose interpolates values, not comments)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for value in node.values() for text in _strings(value)]
    if isinstance(node, list):
        return [text for value in node for text in _strings(value)]
    return []


def _interpolate(value: str) -> str:
    """Compose's interpolation, with `.env` as the environment."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        value = DOTENV.get(name)
        if op in (":-", "-") and (value is None or (op == ":-" and value == "")):
            return arg
        return value or ""

    return BRACED.sub(one, value.replace("$$", "\0")).replace("\0", "$")


def _references() -> list[re.Match[str]]:
    """Every `${...}` in the file's values (`$$` is a literal `$` for the container's shell)."""
    text = "\n".join(_strings(COMPOSE)).replace("$$", "")
    return list(BRACED.finditer(text))


def _one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart") == "no"


def _has_healthcheck(service: dict[str, Any]) -> bool:
    healthcheck = service.get("healthcheck", {})
    return bool(healthcheck.get("test")) and not healthcheck.get("disable")


LONG_RUNNING = sorted(name for name, service in SERVICES.items() if not _one_shot(service))


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    """The service's dependencies and the condition of each."""
    depends = service.get("depends_on", {})
    if isinstance(depends, list):
        return dict.fromkeys(depends, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in depends.items()}


def test_compose_file_follows_the_compose_specification():
    schema_text = (
        resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    ).read_text()
    schema = json.loads(schema_text)
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)

    errors = sorted(validator_class(schema).iter_errors(COMPOSE), key=lambda e: list(e.path))

    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_every_variable_has_a_value_in_dotenv_or_an_inline_default_or_is_required():
    # `$$` is a literal `$` for the container's shell, not interpolation.
    text = "\n".join(_strings(COMPOSE)).replace("$$", "")
    missing = sorted(
        {
            match["name"]
            for match in _references()
            if match["name"] not in DOTENV and match["op"] not in (":-", "-", ":?", "?")
        }
    )
    bare = sorted({match["name"] for match in BARE.finditer(BRACED.sub("", text))})

    assert not missing, (
        f"${{VAR}} without a line in .env, an inline default or a `:?` requirement: {missing}"
    )
    assert not bare, f"write ${{VAR}} (or $$VAR for the container's shell), not $VAR: {bare}"


@pytest.mark.parametrize("name", SECRETS)
def test_every_secret_is_required_and_has_no_default(name: str):
    uses = [match for match in _references() if match["name"] == name]

    assert uses, f"{name} is not used: where does the secret come from?"
    assert all(match["op"] == ":?" and match["arg"].strip() for match in uses), (
        f"write ${{{name}:?message}} at every use, so compose refuses to start without it: "
        f"{sorted({match.group(0) for match in uses})}"
    )
    # Compose reads `.env` too: a line there would be a default of its own.
    assert name not in DOTENV, f".env must not hold {name}: compose would start with it"


def test_no_secret_has_a_default_in_compose_or_dotenv():
    defaulted = sorted(
        {
            match.group(0)
            for match in _references()
            if SECRET_NAME.search(match["name"]) and match["op"] in (":-", "-", ":+", "+")
        }
    )
    in_dotenv = sorted(name for name, value in DOTENV.items() if SECRET_NAME.search(name) and value)

    assert not defaulted, f"secrets with a default in docker-compose.yml: {defaulted}"
    assert not in_dotenv, f"secrets with a value in .env: {in_dotenv}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_image_has_a_pinned_tag(name: str):
    image = _interpolate(SERVICES[name]["image"])
    repository, _, tag = image.rpartition(":")

    assert repository, f"{name}: {image!r} has no tag"
    assert "/" not in tag, f"{name}: {image!r} has no tag"
    assert tag != "latest", f"{name}: {image!r} is not pinned"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_service_has_a_healthcheck(name: str):
    assert _has_healthcheck(SERVICES[name]), name


def test_the_one_shot_services_are_the_setup_steps():
    assert set(SERVICES) - set(LONG_RUNNING) == {
        "temporal-schema",
        "temporal-setup",
        "minio-setup",
        "migrate",
    }


def test_every_dependency_exists_and_waits_on_what_the_dependency_offers():
    for name, service in SERVICES.items():
        for dependency, condition in _depends_on(service).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            target = SERVICES[dependency]
            if condition == "service_healthy":
                assert _has_healthcheck(target), (
                    f"{name} waits for {dependency} to be healthy, which has no healthcheck"
                )
            else:
                assert condition == "service_completed_successfully", (
                    f"{name} -> {dependency}: use service_healthy or "
                    "service_completed_successfully, so a cold start comes up in order"
                )
                assert _one_shot(target), f"{name} waits for {dependency} to complete: one-shot?"


@pytest.mark.parametrize("name", ["api", "worker"])
def test_the_app_starts_after_migrations_search_attributes_and_bucket(name: str):
    depends = _depends_on(SERVICES[name])
    one_shots = {"migrate", "temporal-setup", "minio-setup"}

    assert {dependency: depends.get(dependency) for dependency in one_shots} == dict.fromkeys(
        one_shots, "service_completed_successfully"
    )


def test_the_app_containers_talk_to_the_compose_services():
    environment = {
        key: _interpolate(str(value)) for key, value in SERVICES["api"]["environment"].items()
    }

    assert environment["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert environment["S3_ENDPOINT"] == "minio:9000"
    assert environment["API_HOST"] == "0.0.0.0"
    assert "REPLICATE_API_TOKEN" in environment
    # Both sign media URLs (the worker in the job documents it posts to webhooks).
    assert "MEDIA_SIGNING_SECRETS" in environment
    assert SERVICES["worker"]["environment"] == SERVICES["api"]["environment"]


def test_the_app_services_run_the_api_the_worker_and_the_migrations():
    malloc = ["env", "MALLOC_ARENA_MAX=2", "MALLOC_MMAP_THRESHOLD_=65536"]  # as the Dockerfile's
    assert SERVICES["api"]["command"][:3] == malloc
    assert SERVICES["api"]["command"][3:6] == ["uvicorn", "--factory", "api.main:create_app"]
    assert SERVICES["worker"]["command"] == ["python", "-m", "worker"]
    assert SERVICES["migrate"]["command"] == ["alembic", "upgrade", "head"]
    assert SERVICES["api"]["image"] == SERVICES["worker"]["image"] == SERVICES["migrate"]["image"]


def test_the_worker_scales():
    worker = SERVICES["worker"]

    assert "container_name" not in worker
    assert "ports" not in worker


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_stateful_services_keep_their_data_in_named_volumes(name: str):
    named = set(COMPOSE.get("volumes", {}))
    for volume in SERVICES[name].get("volumes", []):
        source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source")
        assert source in named, f"{name}: {volume!r} is not a named volume"
    if name in ("postgres", "minio"):
        assert SERVICES[name].get("volumes"), f"{name} keeps state: give it a named volume"


def test_the_registered_search_attributes_match_the_code():
    setup = [
        service
        for service in SERVICES.values()
        if service["image"].startswith("temporalio/admin-tools:")
        and "search-attribute create" in json.dumps(service.get("command", ""))
    ]
    assert len(setup) == 1, "one admin-tools service registers the search attributes"
    script = " ".join(setup[0]["command"])

    registered = dict(
        re.findall(r"search-attribute create\b[^\n]*?--name (\w+) --type (\w+)", script)
    )

    assert registered == REGISTERED
    # The Web UI filters jobs by tenant with it (`Owner="acme"`).
    assert registered.get("Owner") == "Keyword"
    for name in registered:  # a second `docker compose up` finds them registered
        assert f"grep -qw {name}" in script, f"{name}: tolerate an existing attribute"
    assert _depends_on(setup[0]) == {"temporal": "service_healthy"}
