"""Archive import: a generated archive of a user's mailbox (mbox files, a folder of .eml, Outlook .msg files)
imported with `bcc-capture import`'s service, SQLite and PostgreSQL: messages per second, and the importing
process's peak memory at two archive sizes (flat memory means streaming).

The import runs in a child process of its own (`--child`), so its peak resident memory (ru_maxrss) is the
import's and nothing else's (tracemalloc is left off: it would slow the import down several times). Reading
and parsing alone is timed on a sample, to tell the MIME parser's share. The archive: a user's conversations
with contacts, 70 % of them started with a matter's dropbox address in Bcc (then filed, replies
by thread), the rest unrelated (ignored), 1 % of the messages as .msg files.
"""

from __future__ import annotations

import json
import random
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from bench import seed
from bench.common import ROOT, Run, database, parse_args, postgres_available, table, target
from bench.workload import DROPBOX_DOMAIN, TENANT_SLUG

NAME = "archive"
OWNER = seed.user_address(0)
START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
MBOX_FILES = 8


def _raw(message_id: str, sender: str, to: str, subject: str, when: datetime, references: list[str],
         bcc: str = "") -> bytes:
    stamp = format_datetime(when)
    host = sender.split("@")[1]
    lines = [f"Received: from mail.{host} (mail.{host} [192.0.2.{len(subject) % 250}])\n\tby mx.acme-law.com with"
             f" ESMTPS id {message_id[1:9]}; {stamp}",  # what an exported mailbox carries: trace and client fields
             f"Received: from client.{host} by mail.{host} with ESMTPSA; {stamp}",
             f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={host}; s=s1;\n\th=from:to:subject:date;"
             f" bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\n\tb=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZQ==",
             "X-Mailer: Microsoft Outlook 16.0", "Thread-Index: AQHZ3k9xZ2VhY2gAAAAAAAAAAAA=",
             "Content-Language: en-GB",
             f"From: {sender.split('@')[0].title()} <{sender}>", f"To: <{to}>", f"Subject: {subject}",
             f"Date: {stamp}", f"Message-ID: {message_id}"]
    if bcc:
        lines.append(f"Bcc: {bcc}")
    if references:
        lines += [f"In-Reply-To: {references[-1]}", f"References: {' '.join(references)}"]
    body = "\n".join(f"Line {n} of the message about {subject.lower()}, with the usual detail." for n in range(12))
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", body, ""]
    return "\n".join(lines).encode()


def generate(folder: Path, count: int, contacts: int, matters: int, seed_value: int = 3) -> dict[str, int]:
    """The archive under ``folder``: mbox files, eml/ and msg/. Returns how many messages of each kind."""
    from tests.connector.services.outlook_files import outlook_msg

    rng = random.Random(seed_value)
    (folder / "eml").mkdir(parents=True)
    (folder / "msg").mkdir()
    mboxes = [(folder / f"part-{n:02d}.mbox").open("wb") for n in range(MBOX_FILES)]
    kinds = {"mbox": 0, "eml": 0, "msg": 0}
    made, conversation, clock = 0, 0, START
    while made < count:
        conversation += 1
        client = seed.contact_address(rng.randrange(contacts))
        matter = f"{TENANT_SLUG}+{10000 + rng.randrange(matters)}@{DROPBOX_DOMAIN}" if rng.random() < 0.7 else ""
        references: list[str] = []
        for index in range(min(rng.randint(1, 5), count - made)):
            clock += timedelta(seconds=rng.randint(1, 90))
            sender, to = (OWNER, client) if index % 2 == 0 else (client, OWNER)
            message_id = f"<a{conversation}.{index}@{sender.split('@')[1]}>"
            subject = ("Re: " if index else "") + f"Item {conversation}"
            where = "msg" if rng.random() < 0.01 else ("eml" if rng.random() < 0.1 else "mbox")
            bcc = matter if index == 0 else ""
            if where == "msg":
                role = [("", to, 1)] + ([("", bcc, 3)] if bcc else [])
                (folder / "msg" / f"{made:07d}.msg").write_bytes(outlook_msg(
                    subject=subject, sender=("", sender), recipients=role, body=f"About {subject}.\n",
                    sent=clock, message_id=message_id))
            elif where == "eml":
                (folder / "eml" / f"{made:07d}.eml").write_bytes(_raw(message_id, sender, to, subject, clock,
                                                                      references, bcc))
            else:
                handle = mboxes[conversation % MBOX_FILES]
                handle.write(b"From " + sender.encode() + b" " + clock.strftime("%a %b %d %H:%M:%S %Y").encode()
                             + b"\n" + _raw(message_id, sender, to, subject, clock, references, bcc) + b"\n")
            kinds[where] += 1
            references.append(message_id)
            made += 1
    for handle in mboxes:
        handle.close()
    return kinds


# ----------------------------------------------------------------------------------------- the child process
def child(url: str, folder: str, batch: int) -> dict[str, Any]:
    """Import ``folder`` into the database at ``url`` (already seeded); report rate and memory."""
    from connector.config import load_settings
    from connector.db import make_engine
    from connector.services.archive import import_archive

    engine = make_engine(url)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu = time.perf_counter(), time.process_time()
    summary = import_archive(engine, load_settings(), TENANT_SLUG, [Path(folder)], OWNER, batch=batch)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    engine.dispose()
    parsing = time.process_time()  # the share of reading and MIME parsing: the first 2,000 messages again
    parsed = _parse_sample(Path(folder), 2_000)
    parse_seconds = time.process_time() - parsing
    return {"messages": summary.messages, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "per_second": round(summary.messages / seconds, 1), "per_cpu_second": round(summary.messages / cpu, 1),
            "rss_before_import_mb": round(rss_before / 1024, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "read_and_parse_cpu_ms_per_message": round(parse_seconds * 1000 / max(parsed, 1), 2),
            "tally": dict(summary.tally)}


def _parse_sample(folder: Path, count: int) -> int:
    from connector.mail.mime import parse
    from connector.services.archive_msg import msg_to_rfc822
    from connector.services.archive_sources import read, sources

    done = 0
    for source in sources([folder]):
        for item in read(source, "") if not isinstance(source, tuple) else ():
            if item.raw is not None:
                parse(msg_to_rfc822(item.raw) if item.outlook else item.raw)
            done += 1
            if done >= count:
                return done
    return done


def measure(backend: str, folder: Path, messages: int, contacts: int, matters: int, batch: int) -> dict[str, Any]:
    from connector.db import make_engine, upgrade

    with database(backend, "archive") as url:
        engine = make_engine(url)
        upgrade(engine)
        tenant_id, _ = seed.company(engine, 5)
        seed.records(engine, tenant_id, matters, contacts)
        engine.dispose()
        out = subprocess.run([sys.executable, "-m", "bench.archive", "--child", url, str(folder), str(batch)],
                             cwd=ROOT, capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"the import failed:\n{out.stderr[-3000:]}")
    row = json.loads(out.stdout.strip().splitlines()[-1])
    return {"backend": backend, "archive_messages": messages, "contacts": contacts, "batch": batch, **row}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(NAME, __doc__.splitlines()[0], argv, extra=[
        ("--messages", {"type": int, "default": None, "help": "messages in the large archive (default 100,000)"}),
        ("--batch", {"type": int, "default": 200, "help": "messages per transaction"})])
    run_ = Run(NAME, args)
    large = args.messages or (5_000 if args.quick else 100_000)
    sizes = [max(large // 10, 500), large]
    contacts, matters = 10_000, 1_000
    backends = ["sqlite"] + (["postgresql"] if postgres_available() else [])
    rows: list[dict[str, Any]] = []
    for size in sizes:
        folder = ROOT / "var" / "bench" / f"archive-{size}"
        shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        kinds = generate(folder, size, contacts, matters)
        print(f"generated {size:,} messages {kinds} in {time.perf_counter() - started:.0f} s")
        try:
            for backend in backends:
                row = {**measure(backend, folder, size, contacts, matters, args.batch), "files": kinds}
                print(row)
                rows.append(row)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    table(["backend", "messages", "seconds", "msg/s", "msg/CPU-s", "peak RSS MB", "read+parse ms/msg", "outcomes"],
          [[r["backend"], r["messages"], r["seconds"], r["per_second"], r["per_cpu_second"], r["peak_rss_mb"],
            r["read_and_parse_cpu_ms_per_message"], r["tally"]] for r in rows], "\nArchive import (one process)")
    targets = []
    for backend in backends:
        mine = {r["archive_messages"]: r for r in rows if r["backend"] == backend}
        small, big = mine[sizes[0]], mine[sizes[1]]
        growth = round(big["peak_rss_mb"] / small["peak_rss_mb"], 2)
        targets.append(target(f"peak memory, {sizes[1]:,} vs {sizes[0]:,} messages, {backend} (ratio)", growth,
                              "flat (≤ 1.2)", growth <= 1.2))
        targets.append(target(f"import rate, {backend}, {sizes[1]:,} messages", big["per_second"],
                              "≥ 1,000 msg/s (SQLite), ≥ 600 (PostgreSQL)",
                              big["per_second"] >= (1000 if backend == "sqlite" else 600), "msg/s"))
    table(["target", "value", "goal", "met"], [[t["target"], t["value"], t["goal"], t["met"]] for t in targets],
          "\nTargets")
    run_.save({"imports": rows}, targets)
    return {"imports": rows}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:  # the measured import, in a process of its own
        print(json.dumps(child(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    else:
        main()
