# mediagen: one image for the API (default command), the worker and the migrations.
#
#   docker build -t mediagen:0.1.0 .
#   docker run mediagen:0.1.0                              # API on 0.0.0.0:8000
#   docker run mediagen:0.1.0 python -m worker             # Temporal worker
#   docker run mediagen:0.1.0 alembic upgrade head         # schema migrations
#
# Configuration comes from the environment only (see README.md, "Configuration"); the
# image holds no .env. docker-compose.yml runs the whole deployment.

# ---- builder: resolve and build every wheel, install them into a venv ----
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src

# Runtime dependencies only: pyproject.toml pins each one to an exact version. The `stack`
# and `dev` extras (embedded servers, test and lint tools) never enter the image.
COPY pyproject.toml README.md ./
COPY core/ core/
COPY api/ api/
COPY workflows/ workflows/
COPY activities/ activities/
COPY worker/ worker/
COPY mediagen/ mediagen/

RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip wheel --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --no-index --find-links /wheels /wheels/*.whl \
    && /opt/venv/bin/pip uninstall --yes pip

# ---- runtime: the venv, the migrations, a non-root user; no compilers, no pip ----
FROM python:3.11-slim AS runtime

LABEL org.opencontainers.image.title="mediagen" \
      org.opencontainers.image.description="Media generation service: every job is a Temporal workflow."

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    API_HOST=0.0.0.0 \
    API_PORT=8000

RUN groupadd --system --gid 10001 mediagen \
    && useradd --system --uid 10001 --gid mediagen --no-log-init --no-create-home \
        --home-dir /app --shell /usr/sbin/nologin mediagen

WORKDIR /app

COPY --from=builder /opt/venv /opt/venv
# `alembic upgrade head` (the migrate service) runs from /app with these two.
COPY alembic.ini ./
COPY migrations/ migrations/

USER 10001:10001

EXPOSE 8000

# The API's liveness; the worker's container overrides it (docker-compose.yml).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]

# MALLOC_ARENA_MAX=2 and MALLOC_MMAP_THRESHOLD_=65536: the API's threads share two malloc
# arenas and its blocks of 64 KiB or more go back to the system when freed, so a burst of
# uploads leaves less memory behind (docs/BENCHMARKS.md, figure 9); the API only.
CMD ["env", "MALLOC_ARENA_MAX=2", "MALLOC_MMAP_THRESHOLD_=65536", "uvicorn", "--factory", "api.main:create_app", "--host", "0.0.0.0", "--port", "8000", "--timeout-keep-alive", "75"]
