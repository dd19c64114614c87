"""Document-structure benchmark: how well pdfq recovers headings, lists, code, tables, order.

    .venv/bin/python -m bench.structure [--docs 12] [--layouts single two-column
        header-footer dense] [--json out.json] [--keep DIR]

Method.

1. Documents (:mod:`.sources`): real Markdown written by public projects, the long
   descriptions (READMEs) of the Python packages installed in the venv whose metadata says
   ``text/markdown``, read at run time (never copied here), sorted by name, httpx, fastapi
   and starlette held out (another check uses them) and pdfq's own left out; those with at
   least 3 headings and 1,500 to 60,000 characters after cleaning (badge, image and raw-HTML
   lines dropped); the first ``--docs``. The report names each with its version and licence.
2. PDFs (:mod:`.render`): markdown-it-py (CommonMark + tables) to HTML, printed by headless
   Chromium through Playwright in four layouts: ``single`` column, ``two-column`` (CSS
   ``columns: 2``), ``header-footer`` (a running header and a ``Page X of Y`` footer) and
   ``dense`` (numbered headings by CSS counters, monospace code boxes, ruled tables).
   ``--keep DIR`` keeps the PDFs (named by a hash of their HTML: a cache across runs), each
   converter's Markdown and pdfq's full JSON result (blocks); otherwise a temporary folder.
3. Ground truth (:mod:`.markdown`) from the Markdown's tokens, never from the PDF: headings
   (text, level), paragraphs, list items (text, depth), code lines, table cells, and the body
   text in order. Layout ``dense``'s heading texts include their printed numbers ("2.3
   Timeouts", normalised to "2 3 timeouts" like every heading); the running header and
   footer of ``header-footer`` are not part of the truth.
4. Converters (:mod:`.converters`): pdfq (``extract_document(path).markdown``) and, as a
   reference when importable, pymupdf4llm (AGPL: installed by hand for the benchmark,
   ``.venv/bin/pip install "pymupdf4llm==0.2.9"``, never a dependency). Both outputs are
   parsed by the same markdown-it parser as the truth.
5. Metrics (:mod:`.metrics`, where matching and normalisation are spelt out): reading-order
   similarity, heading precision/recall/F1 and level accuracy by rank, code lines inside code
   blocks, list items as list items (and their depth), paragraphs whole, table cells inside
   tables (ruled: layout ``dense``; unruled: the others), page furniture leaking into the body
   (``header-footer``), and each converter's time (after one untimed warm-up call each).

The report is one table per layout, metric by converter, with the count behind each figure,
and one overall; ``--json`` writes every count, per document too.
"""
