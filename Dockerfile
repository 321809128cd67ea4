# syntax=docker/dockerfile:1
#
# Caseline image: one image, three commands.
#   caseline web       the FastAPI app on port 8000 (default)
#   caseline worker    the Temporal worker (workflows + activities)
#   caseline migrate   Alembic migrations, run once before web and worker
#
# Build:  docker build -t caseline .
# See docker-compose.yml for the production shape.

# --- Front-end assets (htmx, USWDS, axe-core) ------------------------------------------------
FROM node:20-bookworm-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
# The asset packages need no install scripts; not running them keeps the build hermetic.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- Python application ----------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS app

# PYTHONPATH=/app: the code finds templates/, translations/, migrations/ and node_modules/ beside
# its own source files, so it runs from /app; the path also covers top-level modules such as
# mailsink and i18n. CASELINE_WEB_HOST: inside a container the app must listen on every interface.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    CASELINE_WEB_HOST=0.0.0.0 \
    CASELINE_WEB_PORT=8000

RUN python -m venv /opt/venv

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml or
# constraints.txt change, not on every source edit.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The whole source tree (see .dockerignore), then the assets from the first stage.
COPY . .
COPY --from=assets /assets/node_modules ./node_modules

# Editable install: the `caseline` command, with the code kept in /app next to its data files.
# Message catalogs are compiled here (*.mo files are not in git).
RUN pip install -c constraints.txt -e . \
    && if find translations -name '*.po' | grep -q .; then \
           pybabel compile -d translations -D messages; \
       else \
           echo "no message catalogs under translations/: nothing to compile"; \
       fi

# Run as an unprivileged user; the source stays owned by root and read-only to the app.
RUN groupadd --system --gid 10001 caseline \
    && useradd --system --uid 10001 --gid caseline --home-dir /app --no-create-home \
         --shell /usr/sbin/nologin caseline \
    && mkdir -p /app/data \
    && chown caseline:caseline /app/data
USER caseline

EXPOSE 8000

# Only meaningful for `caseline web`; docker-compose.yml disables it for the worker and migrate.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('CASELINE_WEB_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]

CMD ["caseline", "web"]
