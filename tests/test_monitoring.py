"""The shipped alert rules and dashboard use only metrics the product exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import connector.services.rejections
import connector.sync.metrics  # noqa: F401

MONITORING = Path(__file__).resolve().parent.parent / "docs" / "monitoring"
NAME = re.compile(r"\bbcc_capture_[a-z_]+")


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _exported() -> set[str]:
    """Every series name the registry can export (a labelled metric has no samples until first used)."""
    return {metric.name + suffix for metric in REGISTRY.collect() if metric.name.startswith("bcc_capture_")
            for suffix in SUFFIXES.get(metric.type, ("",))}


def test_every_alert_rule_queries_an_exported_metric() -> None:
    rules = [r for group in yaml.safe_load((MONITORING / "alerts.yaml").read_text())["groups"] for r in group["rules"]]
    assert {r["alert"] for r in rules} >= {"MailboxNeedsReconnect", "SyncLagOverPromise", "SpoolGrowing"}
    used = {name for rule in rules for name in NAME.findall(rule["expr"])}
    assert used and used <= _exported(), used - _exported()


def test_every_dashboard_panel_queries_an_exported_metric() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expr in exprs for name in NAME.findall(expr)}
    assert used and used <= _exported(), used - _exported()
