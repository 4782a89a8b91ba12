"""`python -m bench.report`: docs/performance.md from bench/results/*.json (and bench/analysis.md).

Full-size results are used; a benchmark that has only a `--quick` result is shown with that,
marked as such.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import RESULTS, ROOT

DOC = ROOT / "docs" / "performance.md"
ANALYSIS = ROOT / "bench" / "analysis.md"
ORDER = ["api_economy", "routing", "latency", "scale", "workers"]
TITLES = {"api_economy": "1. API economy", "routing": "2. Routing throughput",
          "latency": "3. Notification-to-logged latency", "scale": "4. Scale: 10,000 idle mailboxes",
          "workers": "5. Workers"}


def load() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name in ORDER:
        for candidate in (RESULTS / f"{name}.json", RESULTS / f"{name}-quick.json"):
            if candidate.exists():
                found[name] = json.loads(candidate.read_text())
                break
    return found


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "✅" if value else "❌"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def _met(value: bool | None) -> str:
    return "–" if value is None else ("met" if value else "**missed**")


def summary(results: dict[str, dict[str, Any]]) -> str:
    rows = []
    for name in ORDER:
        result = results.get(name)
        if not result:
            rows.append([TITLES[name], "not run", "", "", f"`.venv/bin/python -m bench.{name}`"])
            continue
        for t in result["targets"]:
            rows.append([t["target"], f"{_cell(t['value'])} {t.get('unit') or ''}".strip(), t["goal"], _met(t["met"]),
                         f"`{result['command']}`" + (" (quick)" if result["quick"] else "")])
    return md_table(["target", "measured", "goal", "", "command"], rows)


def section(name: str, result: dict[str, Any]) -> str:
    figures = result["figures"]
    head = [f"## {TITLES[name]}", "",
            f"`{result['command']}` — {result['finished_at']}, revision `{result['git_revision'][:12]}`"
            f"{result['git_revision'][40:]}, {result['duration_seconds']} s, load average "
            f"{result['load_average_before']} → {result['load_average_after']} "
            f"(1/5/15 min on {result['machine']['cpu_count']} cores)" + (" — **quick run**" if result["quick"] else ""),
            ""]
    body = RENDER[name](figures)
    notes = [f"* {n}" for n in result.get("notes") or []]
    return "\n".join([*head, body, "", *notes, ""])


def _economy(f: dict[str, Any]) -> str:
    rows = [[r["pattern"], r["provider"], r["strategy"], r["logged_messages"], r["unrelated_messages"],
             r["http_requests"], r["requests_per_logged"], r["requests_per_unrelated"],
             r["units_per_logged"] if r["provider"] == "gmail" else None,
             r["units_per_unrelated"] if r["provider"] == "gmail" else None,
             r["bytes_per_unrelated"], r["full_bodies_unrelated"]] for r in f["results"]]
    runs = [[k, v["mailboxes"], v["messages"], f"{v['logged']}/{v['expected']}", v["steps"], v["sync_seconds"]]
            for k, v in f["runs"].items()]
    ratios = [[r["pattern"], r["provider"], r["requests"], r["units"], r["bytes"]] for r in f["ratios"]]
    endpoints = [[f"{r['pattern']}/{r['provider']}/{r['strategy']}",
                  ", ".join(f"{k}: {v}" for k, v in sorted(r["by_endpoint"].items(), key=lambda kv: -kv[1]))]
                 for r in f["results"]]
    parts = [md_table(["pattern", "provider", "strategy", "logged msgs", "unrelated msgs", "HTTP requests",
                       "req / logged", "req / unrelated", "units / logged", "units / unrelated", "bytes / unrelated",
                       "full bodies of unrelated"], rows), "",
             "Naive ÷ adapter on the same workload:", "",
             md_table(["pattern", "provider", "HTTP requests", "Gmail quota units", "bytes"], ratios), "",
             md_table(["run", "mailboxes", "messages", "logged / answer key", "sync steps", "sync s"], runs), "",
             "<details><summary>Requests by endpoint (emulator logs; batch sub-requests included)</summary>", "",
             md_table(["run", "endpoints"], endpoints), "", "</details>"]
    if f.get("prototypes"):
        parts += ["", "Prototypes of the proposed adapter changes (bench/prototypes.py), same workloads:", "",
                  md_table(["pattern", "provider", "prototype", "HTTP", "req / logged", "req / unrelated",
                            "units / logged", "units / unrelated", "naive ÷ prototype units", "logged / key"],
                           [[p["pattern"], p["provider"], p["strategy"], p["http_requests"], p["requests_per_logged"],
                             p["requests_per_unrelated"],
                             p.get("units_per_logged") if p["provider"] == "gmail" else None,
                             p.get("units_per_unrelated") if p["provider"] == "gmail" else None,
                             p.get("naive_units_ratio"), p.get("correct")] for p in f["prototypes"]])]
    return "\n".join(parts)


def _routing(f: dict[str, Any]) -> str:
    rows = [[r["backend"], r["variant"], f"{r['messages']:,} of {r['workload']:,}", r["contacts"], r["seconds"],
             r["per_second"], r["per_cpu_second"], ", ".join(f"{k} {v}" for k, v in r["outcomes"].items())]
            for r in f["throughput"]]
    scaling = [[r["backend"], r["contacts"], r["messages"], r["per_second"], r["per_cpu_second"]] for r in f["scaling"]]
    prof = f.get("profile") or {}
    top = (prof.get("top") or {})
    parts = [md_table(["backend", "variant", "routed", "contacts", "seconds", "msg/s", "msg per CPU-s", "outcomes"],
                      rows), "", "Scaling with contacts (one transaction each):", "",
             md_table(["backend", "contacts", "messages", "msg/s", "msg per CPU-s"], scaling), ""]
    if top.get("product_inclusive"):
        parts += [f"Profile ({prof.get('tool')}, SQLite, one transaction each) — product functions, inclusive:", "",
                  md_table(["function", "seconds", "share"], [[p["function"], p["seconds"], p["share"]]
                                                              for p in top["product_inclusive"]]), "",
                  "Top self time (all code):", "",
                  md_table(["function", "seconds", "share"], [[p["function"], p["seconds"], p["share"]]
                                                              for p in top["self"]]), ""]
    if f.get("explain"):
        parts += ["EXPLAIN ANALYZE of the hot queries on PostgreSQL (10k contacts, after routing 2,000 messages):", ""]
        for label, plan in f["explain"].items():
            parts += [f"*{label}*", "", "```", plan, "```", ""]
    return "\n".join(parts)


def _latency(f: dict[str, Any]) -> str:
    runs = f.get("runs", [f])
    parts = []
    for r in runs:
        rows = [["send → logged", *_pct(r["latency"])], ["send → first webhook", *_pct(r["to_first_webhook"])],
                ["first webhook → logged", *_pct(r["webhook_to_logged"])]]
        rows += [[f"send → logged, sent by a {p} user" if p != "external" else "send → logged, client replies",
                  *_pct(v)] for p, v in sorted(r["by_provider"].items())]
        parts += [f"**{r['rate_achieved']} msg/s** (target {r['rate_target']}) over {r['mailboxes']} mailboxes, "
                  f"{r['workers']} worker processes, {r['messages_sent']} messages in {r['send_seconds']} s; "
                  f"{r['measured']} loggable on arrival measured, {r['missing']} not logged within the drain time; "
                  f"machine busy {r['machine_busy_share']:.0%}.", "",
                  md_table(["interval (seconds)", "count", "p50", "p95", "p99", "max", "not logged in time"],
                           rows), ""]
    return "\n".join(parts)


def _pct(v: dict[str, Any]) -> list[Any]:
    return [v.get("count"), v.get("p50"), v.get("p95"), v.get("p99"), v.get("max"), v.get("not_logged", 0)]


def _scale(f: dict[str, Any]) -> str:
    parts = []
    for backend, r in f["backends"].items():
        s = r["sweep"]
        parts += [f"**{backend}** — rows: " + ", ".join(f"{k} {_cell(v)}" for k, v in r["rows"].items()), ""]
        if "worker" in r:
            w = r["worker"]
            parts += [f"`bcc-capture worker` on {backend} with {f['mailboxes']:,} idle mailboxes, polled for "
                      f"{w['seconds']} s: RSS {w['rss_mb']} MB, peak {w['peak_rss_mb']} MB.", ""]
        parts += [md_table(["mailboxes due", "claim_due calls (limit 10)", "claimed", "rows updated",
                            "ms per claim (median)", "max ms", "whole sweep ms", "due_for_renewal ms"],
                           [[s["mailboxes_due"], s["claims"], s["claimed"], s["rows_updated"], s["claim_ms_median"],
                             s["claim_ms_max"], s["sweep_ms_total"], s["renewal_query_ms"]]]), ""]
        if s.get("explain_claim_due"):
            parts += ["EXPLAIN (ANALYZE, BUFFERS) of claim_due's query with 10k mailboxes, 1/15 of them due:", "",
                      "```", s["explain_claim_due"], "```", "",
                      "and of the renewal schedule's query (`due_for_renewal`, every minute per worker):", "",
                      "```", s["explain_due_for_renewal"], "```", ""]
    parts += ["Renewals implied by the settings and the providers' lifetimes:", "",
              md_table(["quantity", "value"], [[k, v] for k, v in f["renewals"].items()])]
    return "\n".join(parts)


def _workers(f: dict[str, Any]) -> str:
    rows = [[r["workers"], f"{r['logged']}/{r['expected_logged']}", r["seconds"], r["logged_per_second"],
             r["copies_per_second"], f"{r['machine_busy_share']:.0%}", r["worker_cpu_seconds"],
             r["bench_process_cpu_seconds"], max(r["worker_peak_rss_mb"] or [0])] for r in f["runs"]]
    first = f["runs"][0]
    return "\n".join([
        f"{first['mailboxes']} mailboxes, {first['messages']:,} messages ({first['copies']:,} copies) delivered "
        f"first, then all mailboxes woken at once ({first['backend']}).", "",
        md_table(["worker processes", "logged", "seconds", "logged/s", "copies read/s", "machine busy",
                  "workers' CPU s", "bench process (emulators) CPU s", "peak worker RSS MB"], rows), "",
        "Speed-up over one worker: " + ", ".join(f"{k} → {v}×" for k, v in f["speedup"].items())])


RENDER = {"api_economy": _economy, "routing": _routing, "latency": _latency, "scale": _scale, "workers": _workers}


def render(results: dict[str, dict[str, Any]]) -> str:
    machine = next(iter(results.values()))["machine"] if results else {}
    parts = ["# Performance", "",
             "Generated by `python -m bench.report` from `bench/results/*.json`; every figure comes from "
             "`make bench` (or the command shown). Do not edit by hand: edit `bench/analysis.md` for the prose.", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()), "",
             "## Figures against the targets", "", summary(results), ""]
    if ANALYSIS.exists():
        parts += [ANALYSIS.read_text().strip(), ""]
    for name in ORDER:
        if name in results:
            parts.append(section(name, results[name]))
    return "\n".join(parts).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> Path:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(render(load()))
    print(f"wrote {DOC.relative_to(ROOT)}")
    return DOC


if __name__ == "__main__":
    main()
