"""The Grafana dashboard in deploy/ only uses metrics pdfq exports (checked against a live
registry scrape of every metric name)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pdfq.api.metrics import ServiceMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana-dashboard.json"


def exported_names() -> set[str]:
    metrics = ServiceMetrics(db=None, data_dir=None)  # type: ignore[arg-type] # no scrape
    text = generate_latest(metrics.registry).decode()
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "histogram":
            names.update(f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count"))
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names


def test_every_dashboard_query_uses_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    names = exported_names()
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used.update(re.findall(r"\bpdfq_[a-z_]+", target["expr"]))
    assert used, "the dashboard queries nothing"
    assert used <= names, used - names
    # and every exported family is on the dashboard
    families = {n for n in names if not n.endswith(("_bucket", "_sum", "_count", "_created"))}
    shown = {re.sub(r"_(bucket|sum|count|total)$", "", n) for n in used}
    assert {re.sub(r"_total$", "", f) for f in families} <= shown | {
        re.sub(r"_total$", "", f) for f in used
    }
