"""The chaos rig: the world of emulators/world.py with the real webhook app and N worker *processes*,
plus the chaos itself.

The world connects every mailbox through the real consent flows and runs workers as separate
`bcc-capture worker` processes; on top of it this rig kills them with `kill -9`, sends the generated
workload through the post office while the emulators drop, duplicate, delay and reorder
notifications and answer some calls with 429/503, and ends the storm so the system can settle.
Expiring a delta token or a history id and revoking a grant are the test's own actions.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, select

from bench.seed import workload_company
from bench.workload import Workload
from connector.models import Activity
from connector.services import mailboxes
from emulators.gmail import GmailEmulator
from emulators.graph import GraphEmulator
from emulators.world import Apps, Plan, World, build
from tests.chaos.hostile import Rules

SECRET = "q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="
ROOT = Path(__file__).resolve().parents[2]
SYNC = {"safety_net_minutes": 0.05,  # a dropped notification costs 3 s at most
        "lease_seconds": 5,  # a killed worker's mailboxes move on after 5 s
        "max_backoff_seconds": 5,
        # The slow phase runs the services at time factor 0.2 (a large page: 1–6 s): timeouts scaled alike.
        "request_timeout_seconds": 1.0, "timeout_per_record_seconds": 0.02, "answering_backoff_seconds": 5}


@dataclass
class Faults:
    drop: float = 0.10
    duplicate: float = 0.10
    delay: float = 0.10
    delay_seconds: float = 2.0
    http_errors: float = 0.05
    slow_factor: float = 0.2  # the slow phase: large pages answer in 5–30 s times this
    resets: float = 0.03  # … and this share of API answers is cut off mid-body
    outage_seconds: float = 8.0  # a 503 spell (Graph with Retry-After, Gmail without)


@dataclass
class Rig:
    workload: Workload
    database_url: str
    workers: int = 3
    faults: Faults = field(default_factory=Faults)
    upns: dict[str, str] = field(default_factory=dict)  # Outlook users whose sign-in name is not their address
    kills: int = 0
    log_dir: Path = field(default_factory=lambda: ROOT / "var" / "chaos")
    world: World | None = None

    @contextmanager
    def running(self) -> Iterator[Rig]:
        """The world with the workload's company (domain proved through DNS), every mailbox connected and
        ``workers`` worker processes started."""
        people = [(u.address, u.name, u.provider) for u in self.workload.users]
        plan = Plan(self.database_url, people=people, upns=self.upns, secret_key=SECRET, sync=SYNC, migrate=True,
                    seed=11, push_max_backoff=5.0, log_dir=self.log_dir)
        with build(plan) as world:
            self.world = world
            workload_company(world.engine, self.workload, dns=True)
            for person in self.workload.users:
                world.connect(person.address, person.provider)
            for _ in range(self.workers):
                world.workers.start()
            try:
                yield self
            finally:
                self.world = None

    @property
    def _world(self) -> World:
        assert self.world is not None, "use the rig inside `with rig.running()`"
        return self.world

    @property
    def graph(self) -> GraphEmulator:
        return self._world.sandbox.graph

    @property
    def gmail(self) -> GmailEmulator:
        return self._world.sandbox.gmail

    def connect(self, address: str) -> None:
        """The user connects (again) through the consent page, as in the console."""
        self._world.connect(address, next(p.provider for p in self.workload.users if p.address == address))

    # ------------------------------------------------------------------------------------------ chaos
    def kill_one(self) -> None:
        """kill -9 the oldest live worker and start a replacement."""
        victim = self._world.workers.live()[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        self.kills += 1
        self._world.workers.start()

    def arm_faults(self) -> None:
        f = self.faults
        self.gmail.drop_pushes(next_n=None, probability=f.drop)
        self.gmail.duplicate_pushes(next_n=None, probability=f.duplicate)
        self.gmail.delay_pushes(f.delay_seconds, next_n=None, probability=f.delay)
        self.gmail.reorder_pushes(window=5)
        self.gmail.quota_storm(next_n=None, probability=f.http_errors / 2, retry_after=1)
        self.gmail.fail_requests(503, next_n=None, probability=f.http_errors / 2)
        self.graph.faults.drop_notifications(probability=f.drop)
        self.graph.faults.duplicate_notifications(probability=f.duplicate)
        self.graph.faults.delay_notifications(f.delay_seconds, probability=f.delay)
        self.graph.faults.reorder_notifications(next_n=5)
        self.graph.faults.inject_http_errors(429, probability=f.http_errors / 2, retry_after=1)
        self.graph.faults.inject_http_errors(503, probability=f.http_errors / 2, retry_after=1)

    def slow_phase(self) -> None:
        """Issue 13's slow service (emulators/slow.py): large pages slow, answers cut off mid-body."""
        for slow in (self.graph.faults.slow, self.gmail.faults.slow):
            slow.arm(time_factor=self.faults.slow_factor, reset_probability=self.faults.resets, seed=13)

    def outage(self) -> None:
        """A long 503 spell on both services at once."""
        self.graph.faults.slow.spell(self.faults.outage_seconds, retry_after=2)
        self.gmail.faults.slow.spell(self.faults.outage_seconds)

    def end_slow_phase(self) -> None:
        for slow in (self.graph.faults.slow, self.gmail.faults.slow):
            slow.clear()

    def slow_figures(self) -> dict[str, int]:
        profiles = (self.graph.faults.slow, self.gmail.faults.slow)
        return {"slowed": sum(p.slowed for p in profiles), "resets": sum(p.resets for p in profiles),
                "unavailable": sum(p.unavailable for p in profiles)}

    def send_all(self, actions: dict[float, Callable[[], None]] | None = None) -> None:
        """Send the workload in order; when a fraction of it is sent, run the chaos action due then."""
        pending = sorted((actions or {}).items())
        total = len(self.workload.messages)
        office = self._world.sandbox.post_office
        for index, message in enumerate(self.workload.messages):
            office.send(message.sender.address, message.raw())
            while pending and pending[0][0] <= (index + 1) / total:
                pending.pop(0)[1]()

    def calm(self) -> None:
        """End the storm: the system must now converge on its own."""
        self.graph.faults.clear()
        self.gmail.clear_push_faults()
        self.gmail.clear_request_faults()

    # ------------------------------------------------------------------------------------------ outcome
    def logged_ids(self) -> list[str]:
        return self._world.logged_ids()

    def logged_subjects(self) -> set[str]:
        with Session(self._world.engine) as session:
            return set(session.exec(select(Activity.subject)))

    def world_apps(self) -> Apps:
        return self._world.sandbox.apps

    def threads(self) -> dict[int, set[str]]:
        with Session(self._world.engine) as session:
            grouped: dict[int, set[str]] = {}
            for activity in session.exec(select(Activity)):
                grouped.setdefault(activity.thread_id, set()).add(activity.internet_message_id)
            return grouped

    def filed_by_rules(self, rules: dict[str, Rules]) -> tuple[set[str], set[str]]:
        """The Message-IDs Outlook's Inbox rules moved into each mailbox's folder, and those of the mail they were
        to mark read that is read, as the Graph emulator holds them."""
        moved: set[str] = set()
        marked: set[str] = set()
        for address, made in rules.items():
            moved |= {m.parsed.message_id for m in self.graph.messages(address, made.folder)}
            marked |= {m.parsed.message_id for m in self.graph.messages(address)
                       if m.is_read and m.parsed.from_ and m.parsed.from_[1].endswith(made.read)}
        return moved, marked

    def mailbox_health(self) -> list[mailboxes.Health]:
        return self._world.health()

    def settle(self, expected: set[str], timeout: float) -> float:
        """Seconds until every expected message is logged and every mailbox reports synced (-1: timeout)."""
        return self._world.settle(expected, timeout, poll=1.0)
