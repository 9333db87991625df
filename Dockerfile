FROM python:3.11-slim

COPY --from=ghcr.io/astral-sh/uv:0.13 /uv /usr/local/bin/uv

RUN useradd --create-home --uid 1000 app
WORKDIR /app
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/app/.venv

COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY graph ./graph
COPY api ./api
RUN uv sync --frozen --no-dev && chown -R app:app /app

USER app
ENV HOST=0.0.0.0 PORT=8000 PATH="/app/.venv/bin:$PATH"
EXPOSE 8000
CMD ["chat-server"]
