"""Browser origins the tests send."""

STUDIO = "https://smith.langchain.com"
# The one origin besides Studio's that tests/http/conftest.py's app allows (CORS_ORIGINS).
CHAT_UI = "http://localhost:3000"
