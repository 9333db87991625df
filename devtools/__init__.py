"""What the tests and the benchmark both run beside the server: the OpenAI-compatible stub, free
ports, throwaway databases, and processes started until they are ready. Not part of the server:
the image leaves it out."""
