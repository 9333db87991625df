"""What the people who run the server see of it: request ids and structured logs, Prometheus
metrics summed over every worker process, and LangSmith tracing.

Import the modules themselves (`api.observability.app`, ...): the package imports nothing, so
that the conversation service can use `turn_watch` without an import cycle.
"""
