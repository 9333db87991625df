"""PostgreSQL: the pool and the embedded server, the checkpointer, the sessions table, the session
locks and the schema. Knows nothing of HTTP."""
