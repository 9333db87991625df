"""The fault suite: two server processes on one database under a steady load, one fault injected
at a time (connections terminated, a process killed or stopped, idle timeouts, PostgreSQL
restarted), and the conversations checked from outside afterwards.

tests/faults/ runs each scenario briefly; `uv run python -m faults` runs them all with more turns
and writes RELIABILITY.md. Not part of the server: the image leaves it out.
"""
