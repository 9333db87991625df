"""The chat server's benchmark: `uv run python -m bench` (see `python -m bench --help`).

It serves the OpenAI-compatible stub, the chat server and a minimal relay (the floor) as processes
of their own on 127.0.0.1, drives them with an asyncio httpx load client in another process,
and writes what it measured to BENCHMARKS.md.
"""
