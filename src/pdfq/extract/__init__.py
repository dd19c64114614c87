"""Extraction: PDF bytes to text, tables and Markdown. No HTTP, queues or databases here."""
