"""The HTTP service: FastAPI app, lifespan-owned resources, routes and streaming."""
