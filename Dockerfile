FROM python:3.11-slim

COPY --from=ghcr.io/astral-sh/uv:0.13 /uv /usr/local/bin/uv

RUN groupadd --gid 1000 app && useradd --create-home --uid 1000 --gid 1000 app
WORKDIR /app
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/app/.venv

COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY graph ./graph
COPY api ./api
RUN uv sync --frozen --no-dev && chown -R app:app /app

# Numeric, so that a cluster can tell it is not root without reading /etc/passwd.
USER 1000:1000
ENV HOST=0.0.0.0 PORT=8000 PATH="/app/.venv/bin:$PATH"
EXPOSE 8000
# /healthz answers while the process serves; python:3.11-slim has no curl, so Python asks.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["python", "-c", \
  "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ['PORT'], timeout=4)"]
CMD ["chat-server"]
