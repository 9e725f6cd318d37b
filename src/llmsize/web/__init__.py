"""``llmsize serve``: a local page and JSON API over the Python API (the ``web`` extra: FastAPI,
uvicorn). The page is a view: every number comes from the API, every chart from ``svg.py``."""
