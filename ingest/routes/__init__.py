"""One module per input dialect: ``router(gateway)`` returns its FastAPI routes."""
