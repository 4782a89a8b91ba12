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
ORDER = ["api_economy", "routing", "latency", "scale", "workers", "archive", "console", "cli"]
TITLES = {"api_economy": "1. API economy", "routing": "2. Routing throughput",
          "latency": "3. Notification-to-filed latency", "scale": "4. Scale: 10,000 idle mailboxes",
          "workers": "5. Workers", "archive": "6. Archive import", "console": "7. Console pages",
          "cli": "8. CLI start-up"}


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
    scaling = [[r["backend"], r["contacts"], r.get("activities_before", 0), r["messages"], r["per_second"],
                r["per_cpu_second"]] for r in f["scaling"]]
    prof = f.get("profile") or {}
    top = (prof.get("top") or {})
    parts = [md_table(["backend", "variant", "routed", "contacts", "seconds", "msg/s", "msg per CPU-s", "outcomes"],
                      rows), "",
             "Scaling with contacts and activities logged before (batched, 50 per transaction):", "",
             md_table(["backend", "contacts", "activities before", "messages", "msg/s", "msg per CPU-s"], scaling), ""]
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
    parts = []
    for r in f.get("runs", [f]):
        if "tail" not in r:  # a result from before the per-message trace (send → logged only)
            parts += [f"**{r['rate_achieved']} msg/s**: p99 send → logged {r['latency'].get('p99')} s "
                      "(an older result without the per-message breakdown).", ""]
            continue
        rows = [["notification → filed", *_pct(r["latency"])]]
        rows += [[f"notification → filed, {name} mailbox", *_pct(v)] for name, v in r["by_provider"].items()]
        rows += [["send → notification", *_pct(r["send_to_notification"])], ["send → filed", *_pct(r["send_to_filed"])]]
        parts += [f"**{r['rate_achieved']} msg/s** (target {r['rate_target']}) over {r['mailboxes']} mailboxes, "
                  f"{r['workers']} worker processes, {r['messages_sent']} messages in {r['send_seconds']} s; "
                  f"{r['traced']} of {r['loggable_on_arrival']} fileable on arrival traced, {r['missing']} not filed "
                  f"within the drain time; machine busy {r['machine_busy_share']:.0%}.", "",
                  md_table(["interval (seconds)", "count", "p50", "p90", "p99", "max", "not filed in time"], rows), "",
                  "Where the time goes (mean seconds per message; *step already running*: the step that filed it "
                  "had started before the notification):", "",
                  md_table(["messages", "count", "total", "queue", "provider", "backlog", "route", "commit", "other",
                            "step already running"],
                           [[name, m["count"], m["total"], m["queue"], m["provider"], m.get("backlog"), m["route"],
                             m["commit"], m["other"], m["in_flight"]] for name, m in r["tail"]["means"].items()]), ""]
    return "\n".join(parts)


def _pct(v: dict[str, Any]) -> list[Any]:
    return [v.get("count"), v.get("p50"), v.get("p90"), v.get("p99"), v.get("max"), v.get("not_filed", 0)]


def _archive(f: dict[str, Any]) -> str:
    rows = [[r["backend"], r["messages"], r["batch"], r["seconds"], r["per_second"], r["per_cpu_second"],
             r["peak_rss_mb"], r["read_and_parse_cpu_ms_per_message"],
             ", ".join(f"{k} {v}" for k, v in r["tally"].items())] for r in f["imports"]]
    return md_table(["backend", "messages", "batch", "seconds", "msg/s", "msg per CPU-s", "peak RSS (MB)",
                     "read + parse CPU ms/msg", "outcomes"], rows)


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


def _console(f: dict[str, Any]) -> str:
    runs = [name for name in f if "/" in name]  # "sqlite/demo", "postgresql/100k", …
    pages = list(dict.fromkeys(page for name in runs for page in f[name]))
    rows = [[page, *(f"{f[name][page]['p50_ms']} / {f[name][page]['p95_ms']}" if page in f[name] else "—"
                     for name in runs)] for page in pages]
    return "\n".join([f"p50 / p95 ms per page; the 100k runs hold {f['activities']:,} e-mails.", "",
                      md_table(["page", *runs], rows)])


def _cli(f: dict[str, Any]) -> str:
    rows = [[r["command"], r["wall_median_s"], r["wall_best_s"], r["cpu_median_s"], r["exit_status"]]
            for r in f["commands"]]
    return md_table(["command", "wall median s", "wall best s", "CPU median s", "exit status"], rows)


RENDER = {"api_economy": _economy, "routing": _routing, "latency": _latency, "scale": _scale, "workers": _workers,
          "archive": _archive, "console": _console, "cli": _cli}


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
