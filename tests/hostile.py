"""The project's own set of hostile PDFs: active content, traps for parsers, bombs.

Each sample says what the safety scan must record (``findings``) or how the job must end
(``code``). They are built here, nothing is downloaded; none of them does anything when read
by pdfq (nothing a PDF says is executed or fetched), which the tests check.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field

import pikepdf

from tests import samples


@dataclass(frozen=True)
class Hostile:
    name: str
    data: bytes
    findings: frozenset[str] = field(default_factory=frozenset)
    """Scan findings it must produce (the job still succeeds unless the policy refuses them)."""
    code: str | None = None
    """The error code it must fail with, whatever the policy; ``None``: it may succeed."""


def _with(edit: object) -> bytes:
    """The sample report, edited by ``edit(pdf)`` with pikepdf."""
    pdf = pikepdf.open(io.BytesIO(samples.report_pdf()))
    edit(pdf)  # type: ignore[operator]
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _javascript(pdf: pikepdf.Pdf) -> None:
    action = pdf.make_indirect(
        pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert('hi');"))
    )
    pdf.Root.OpenAction = action


def _launch(pdf: pikepdf.Pdf) -> None:
    launch = pikepdf.Dictionary(S=pikepdf.Name.Launch, F=pikepdf.String("/bin/sh"))
    uri = pikepdf.Dictionary(S=pikepdf.Name.URI, URI=pikepdf.String("http://127.0.0.1:9/pwn"))
    for action in (launch, uri):
        annot = pikepdf.Dictionary(
            Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.Link,
            Rect=[0, 0, 100, 100],
            A=action,
        )
        pdf.pages[0].Annots = pdf.make_indirect(
            pikepdf.Array([*pdf.pages[0].get("/Annots", pikepdf.Array()), annot])
        )


def _embedded(pdf: pikepdf.Pdf) -> None:
    pdf.attachments["payload.exe"] = pikepdf.AttachedFileSpec(pdf, b"MZ" + b"\0" * 100)


def _xfa(pdf: pikepdf.Pdf) -> None:
    xfa = pdf.make_stream(b"<xdp:xdp xmlns:xdp='http://ns.adobe.com/xdp/'></xdp:xdp>")
    pdf.Root.AcroForm = pdf.make_indirect(pikepdf.Dictionary(Fields=pikepdf.Array(), XFA=xfa))


def _names_javascript(pdf: pikepdf.Pdf) -> None:
    script = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("this.print();"))
    tree = pikepdf.Dictionary(Names=pikepdf.Array([pikepdf.String("init"), script]))
    pdf.Root.Names = pikepdf.Dictionary(JavaScript=pdf.make_indirect(tree))


def _nested_arrays(depth: int) -> bytes:
    """A page whose resources nest arrays ``depth`` deep (recursion traps)."""
    nested = b"[" * depth + b"]" * depth
    return samples.build_raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Trap %s >>" % nested,
        ]
    )


def _huge_page() -> bytes:
    """One page of 200 x 200 inches (14,400 pt, PDF's largest) with only an image-like path."""
    content = zlib.compress(b"0 0 m 14400 14400 l S\n" * 10)
    return samples.build_raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 14400 14400] /Contents 4 0 R >>",
            b"<< /Filter /FlateDecode /Length %d >>\nstream\n" % len(content)
            + content
            + b"\nendstream",
        ]
    )


def _object_loop() -> bytes:
    """Indirect references that point at each other, and a /Length that points at itself."""
    return samples.build_raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Loop 4 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R >>",
            b"<< /Next 6 0 R >>",
            b"<< /Length 5 0 R >>\nstream\nBT ET\nendstream",
            b"<< /Next 4 0 R >>",
        ]
    )


def hostile_set() -> list[Hostile]:
    return [
        Hostile(
            "javascript-open-action", _with(_javascript), frozenset({"javascript", "open_action"})
        ),
        Hostile("javascript-name-tree", _with(_names_javascript), frozenset({"javascript"})),
        Hostile("launch-and-uri", _with(_launch), frozenset({"launch_actions", "uri_actions"})),
        Hostile("embedded-file", _with(_embedded), frozenset({"embedded_files"})),
        Hostile("xfa-form", _with(_xfa), frozenset({"xfa"})),
        Hostile("deflate-bomb", samples.deflate_bomb_pdf(512 << 20), code="unsafe_pdf"),
        Hostile("page-tree-cycle", samples.page_tree_cycle_pdf(), code="malformed_pdf"),
        Hostile("nested-arrays", _nested_arrays(100_000)),
        Hostile("huge-page", _huge_page()),
        Hostile("object-loop", _object_loop()),
        Hostile("too-many-pages", samples.many_pages_pdf(6000), code="too_many_pages"),
        Hostile("truncated", samples.truncated(samples.report_pdf(), 0.1), code="malformed_pdf"),
        Hostile("encrypted-no-password", samples.encrypted_pdf(), code="encrypted"),
    ]
