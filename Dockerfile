# pdfq: one image for the API (`pdfq serve`) and the workers (`pdfq worker`).
FROM python:3.11-slim-bookworm

# Tesseract with its language data for OCR, qpdf for the safety scan's tooling, LibreOffice
# (headless) to convert office documents to PDF.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-fra qpdf \
      libreoffice-writer-nogui libreoffice-impress-nogui libreoffice-calc-nogui \
      fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir ".[all]" \
 && useradd --create-home --uid 1000 pdfq \
 && mkdir -p /data && chown pdfq /data

USER pdfq
ENV PDFQ_DATA_DIR=/data \
    PDFQ_HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["pdfq", "serve"]
