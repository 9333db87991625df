"""The LangGraph Server API over the same sessions: what LangGraph Studio, the LangGraph SDKs,
RemoteGraph and Agent Chat UI call. A thread is a session; a run is a turn.

Its reference is langgraph-api's own `openapi.json`, so these routes stay out of this server's.
"""
