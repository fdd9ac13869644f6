# lenadex, the CDS Hooks service, served by gunicorn (its worker count from the CPU quota).
#   docker build -t lenadex:0.1.0 .
#   docker run -p 8080:8080 -e LENADEX_DATABASE_URL=postgresql+psycopg://… lenadex:0.1.0
# Without LENADEX_DATABASE_URL the store is a SQLite file in /app/var (mount a volume there).
#
# BASE_IMAGE: any image with python3 ≥ 3.11 and its venv module. The default is pulled from a
# registry; where none can be reached, build a local one from Debian's packages first
# (deploy/docker/local-base.sh) and pass --build-arg BASE_IMAGE=local/debian-python:bookworm.
# Both stages use the same base, so the virtual environment's python is found in the second.
ARG BASE_IMAGE=python:3.11-slim

# --- build: the project and its dependencies installed into a virtual environment -----------
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/lenadex
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
COPY fhir_mappings ./fhir_mappings
COPY rules ./rules
COPY cards ./cards
COPY sandbox ./sandbox
# No wheel is kept anywhere: pip builds the project's in a temporary folder, installs
# everything (compiled to bytecode, so that a read-only container starts fast) and, with no
# cache, leaves nothing else behind; pip and setuptools themselves are then removed.
RUN /opt/lenadex/bin/python -m pip install /src \
    && /opt/lenadex/bin/python -m pip uninstall -y -q pip setuptools \
    && rm -rf /opt/lenadex/bin/pip* /opt/lenadex/bin/Activate.ps1

# --- run: the virtual environment only, as a user without privileges ------------------------
FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/lenadex/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LENADEX_HOST=0.0.0.0 \
    LENADEX_PORT=8080
RUN groupadd --system --gid 10001 lenadex \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin lenadex \
    && mkdir -p /app/var \
    && chown 10001 /app/var
COPY --from=build /opt/lenadex /opt/lenadex
WORKDIR /app
USER 10001
EXPOSE 8080
VOLUME ["/app/var"]
# /healthz (the readiness answer) is 200 only when the store answers too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('LENADEX_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]
# --workers 0: gunicorn with 2 workers per CPU (of the container's CPU quota) + 1.
CMD ["lenadex", "serve", "--host", "0.0.0.0", "--workers", "0"]
