# lenadex, the CDS Hooks service, served by gunicorn with one worker per CPU share.
#   docker build -t lenadex:0.1.0 .
#   docker run -p 8080:8080 -e LENADEX_DATABASE_URL=postgresql+psycopg://… lenadex:0.1.0
# Without LENADEX_DATABASE_URL the store is a SQLite file in /app/var (mount a volume there).

# --- build: the wheel of the project and of every dependency --------------------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
COPY fhir_mappings ./fhir_mappings
COPY rules ./rules
COPY cards ./cards
COPY sandbox ./sandbox
RUN pip wheel --wheel-dir /wheels .

# --- run: the installed wheels only, as a user without privileges ---------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LENADEX_HOST=0.0.0.0 \
    LENADEX_PORT=8080
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels lenadex \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin lenadex \
    && mkdir -p /app/var \
    && chown lenadex /app/var
WORKDIR /app
USER 10001
EXPOSE 8080
VOLUME ["/app/var"]
# /healthz answers 200 only when the store answers too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('LENADEX_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]
# --workers 0: gunicorn with 2 workers per CPU (of the container's CPU quota) + 1.
CMD ["lenadex", "serve", "--host", "0.0.0.0", "--workers", "0"]
