"""A turn's events written to the client as they come: one pump, and an encoder per wire
format (the /chat API's SSE and plain text, the LangGraph API's run streams)."""

from api.streaming.pump import STREAM_HEADERS, Encoder, StreamPolicy, pump, sse_response

__all__ = ["STREAM_HEADERS", "Encoder", "StreamPolicy", "pump", "sse_response"]
