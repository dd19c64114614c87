"""The HTTP API (FastAPI). Thin by design: validate, stream to blobs, insert, enqueue."""

from pdfq.api.app import create_app

__all__ = ["create_app"]
