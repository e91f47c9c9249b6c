"""The analytics API's routes, one router per resource (FastAPI's bigger-applications layout)."""
