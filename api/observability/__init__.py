"""What the people who run the server see of it: request ids and structured logs, Prometheus
metrics summed over every worker process, and LangSmith tracing."""
