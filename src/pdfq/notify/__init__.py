"""Telling the outside world about jobs: signed webhook calls."""

from pdfq.notify.signing import sign, verify

__all__ = ["sign", "verify"]
