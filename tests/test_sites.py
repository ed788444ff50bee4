"""Two sites with the real Litestream binary: a ``file://`` replica in tmp_path, the primary's
`dispatch` and the standby as real subprocesses, the Twilio stand-in over loopback HTTP.

The kill-and-take-over rounds kill -9 the primary's dispatcher *and* its Litestream mid
fan-out (a sudden loss of the site, not a shutdown: Litestream gets no chance to ship its last
changes), take over at site B and count the stand-in's log: every alert sent exactly once.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from mim_console.cli import main
from mim_console.clock import to_iso, utcnow
from mim_console.config import ReplicaSettings, Settings, load_settings
from mim_console.data import outbox, replica, replicator, sites, standby
from mim_console.data.outbox import AlertDraft
from mim_console.data.store import Store
from mim_console.domain.alerts import Channel, Purpose
from mim_console.errors import UserError
from mim_console.standin import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_SENDER,
    StandIn,
    ThreadedStandIn,
)
from tests.slow_gate import slow_only_when_asked  # noqa: F401

FAN_OUT = 200


@dataclass
class Site:
    name: str
    folder: Path
    url: str

    @property
    def db(self) -> Path:
        return self.folder / "mim.db"

    @property
    def config(self) -> Path:
        return self.folder / "config.toml"

    @property
    def log(self) -> Path:
        return self.folder / "out.log"

    def env(self, standin: ThreadedStandIn | None = None) -> dict[str, str]:
        env = {**os.environ, "MIM_CONSOLE_CONFIG": str(self.config), "MIM_CONSOLE_DB": str(self.db)}
        if standin is not None:
            env.update(
                TWILIO_ACCOUNT_SID=DEFAULT_ACCOUNT_SID,
                TWILIO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
                MIM_TWILIO_FROM=DEFAULT_SENDER,
                MIM_TWILIO_API_URL=standin.url,
            )
        return env

    def spawn(self, *args: str, standin: ThreadedStandIn | None = None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "mim_console", *args],
            env=self.env(standin),
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mim_console", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )


def make_site(tmp_path: Path, name: str, url: str) -> Site:
    folder = tmp_path / name
    folder.mkdir(parents=True)
    site = Site(name, folder, url)
    site.config.write_text(f'[replica]\nurl = "{url}"\nsite = "{name}"\n', encoding="utf-8")
    return site


@pytest.fixture
def two_sites(tmp_path: Path) -> tuple[Site, Site]:
    url = (tmp_path / "replica").as_uri()
    return make_site(tmp_path, "site-a", url), make_site(tmp_path, "site-b", url)


def wait_for(cond: Callable[[], bool], limit_s: float, what: str, *logs: Path) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            tail = "\n".join(p.read_text(errors="replace")[-2000:] for p in logs if p.exists())
            raise AssertionError(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.05)


def copy_query(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Read a follower copy the way the standby does: a short read-only connection."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return []
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()


def replicating(site: Site) -> bool:
    if not site.db.exists():
        return False
    store = Store(site.db)
    try:
        with store.read() as db:
            info = sites.current(db)
    finally:
        store.close()
    return info is not None and info.name == site.name


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def kill_site(proc: subprocess.Popen[bytes]) -> None:
    """A sudden loss: Litestream and the dispatcher die at once, neither ships anything more."""
    for child in children(proc.pid):
        os.kill(child, signal.SIGKILL)
    proc.kill()
    proc.wait(10)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# ----------------------------------------------------------------------- unit-sized


def test_binary_found_from_the_wheel() -> None:
    path = replica.litestream_binary()
    assert path.is_file()
    out = subprocess.run([str(path), "version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith("0.5")


def test_replica_url_checked(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    for bad, words in [
        ("http://x/y", "must start with"),
        ("sftp://me:secret@host/path", "must not hold a password"),
        ("file://relative/path", "absolute path"),
        ("s3:///nobucket", "names no bucket"),
    ]:
        config.write_text(f'[replica]\nurl = "{bad}"\n', encoding="utf-8")
        with pytest.raises(UserError, match=words) as caught:
            load_settings(config)
        assert "secret" not in str(caught.value)
    config.write_text('[replica]\nurl = "s3://bucket/mim"\nsite = "hq"\n', encoding="utf-8")
    assert load_settings(config).replica == ReplicaSettings(url="s3://bucket/mim", site="hq")


def test_generated_config_is_private_and_names_no_secret(tmp_path: Path) -> None:
    env = {"LITESTREAM_SFTP_PASSWORD": "hunter2", "LITESTREAM_SFTP_KEY_PATH": "/k"}
    text = replica.config_text(tmp_path / "a b.db", "sftp://me@host/mim", env)
    assert "hunter2" not in text
    assert "${LITESTREAM_SFTP_PASSWORD}" in text and "${LITESTREAM_SFTP_KEY_PATH}" in text
    path = replica.write_config(tmp_path / "cfg", tmp_path / "a.db", "file:///r")
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "cfg").stat().st_mode & 0o777 == 0o700


def test_replicator_restarts_litestream_that_dies(tmp_path: Path) -> None:
    store = Store(tmp_path / "mim.db")
    url = (tmp_path / "replica").as_uri()
    rep = replicator.Replicator(
        store, url, site="A", binary=replica.litestream_binary(), beat_s=0.2, check_s=0.5
    ).start()
    try:
        wait_for(lambda: rep.pid is not None, 10, "litestream")
        wait_for(lambda: rep.status().lag_s == 0.0, 20, "the replica caught up")
        first = rep.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: rep.pid not in (None, first), 20, "a restarted litestream")
        status = rep.status()
        assert status.restarts == 1 and status.holder
        assert "replica" in status.line()
        # The config it runs with is private.
        assert rep._config is not None and rep._config.stat().st_mode & 0o777 == 0o600
    finally:
        rep.stop()
        store.close()
    assert rep.pid is None


def test_second_replicator_waits_for_the_lease(tmp_path: Path) -> None:
    url = (tmp_path / "replica").as_uri()
    one, two = Store(tmp_path / "mim.db"), Store(tmp_path / "mim.db")
    exe = replica.litestream_binary()
    a = replicator.Replicator(one, url, site="A", binary=exe, beat_s=0.2).start()
    try:
        wait_for(lambda: a.pid is not None, 10, "the first litestream")
        b = replicator.Replicator(two, url, site="A", binary=exe, beat_s=0.2).start()
        time.sleep(1.0)
        assert b.pid is None and not b.status().holder
        b.stop()
    finally:
        a.stop()
        one.close()
        two.close()


def test_standby_copy_never_overwrites_a_database(two_sites: tuple[Site, Site]) -> None:
    a, b = two_sites
    Store(b.db).close()  # a real database where the standby would write
    done = b.cli("standby", "--from", a.url, "--once")
    assert done.returncode == 1
    assert "not a standby copy" in done.stderr


# ----------------------------------------------------------------------- end to end


def test_standby_follows_live_and_refuses_writes(two_sites: tuple[Site, Site]) -> None:
    a, b = two_sites
    primary = a.spawn("dispatch", "--lease-ttl", "1")
    follower: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: replicating(a), 30, "site A replicating", a.log)
        follower = b.spawn("standby", "--headless")
        wait_for(lambda: standby.txid_path(b.db).exists(), 60, "the standby's copy", b.log)
        # Live: a person added at A appears in B's copy within seconds.
        assert a.cli("person", "add", "Live Person", "--mobile", "+358401000009").returncode == 0
        wait_for(
            lambda: bool(copy_query(b.db, "SELECT 1 FROM person WHERE name = 'Live Person'")),
            20,
            "the new person at the standby",
            b.log,
        )
        shown = b.cli("people", "--json")
        assert shown.returncode == 0 and "Live Person" in shown.stdout
        sheet = b.cli("callsheet", "--json")  # the call sheet works from the copy too
        assert sheet.returncode == 0, sheet.stderr
        # Every write at B is refused in the same words, and nothing reaches the copy.
        for args in (
            ("person", "add", "Nope", "--mobile", "+358401000010"),
            ("party", "add", "Nope"),
        ):
            refused = b.cli(*args)
            assert refused.returncode == 1
            assert "standby: read-only — `mim-console takeover` to take over" in refused.stderr
        assert not copy_query(b.db, "SELECT 1 FROM person WHERE name = 'Nope'")
        # The banner's words: whose copy, how far behind.
        store = standby.FollowerStore(b.db)
        from mim_console.services import sites as site_service
        from mim_console.services.context import Context

        ctx = Context(settings=Settings(db_path=b.db))
        ctx._store = store
        status = site_service.standby_status(ctx)
        assert status.site == "site-a" and status.behind_s is not None
        assert status.behind_s < 10 and status.following
        assert status.line().startswith("STANDBY of site-a, ")
        version = store.data_version()
        wait_for(lambda: store.data_version() != version, 10, "the copy to move (beats)")
        info = b.cli("info", "--json")
        assert '"standby_of": "site-a"' in info.stdout
    finally:
        if follower is not None:
            stop(follower)
        stop(primary)


def test_takeover_refused_while_the_lease_is_fresh_then_succeeds(
    two_sites: tuple[Site, Site],
) -> None:
    a, b = two_sites
    primary = a.spawn("dispatch", "--lease-ttl", "1")
    follower: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: replicating(a), 30, "site A replicating", a.log)
        follower = b.spawn("standby", "--headless")
        wait_for(lambda: standby.txid_path(b.db).exists(), 60, "the standby's copy", b.log)
        refused = b.cli("takeover", "--margin", "1")
        assert refused.returncode == 1 and "refused" in refused.stderr, refused.stderr
        assert follower.poll() is None, "a refused take-over leaves the standby following"
        kill_site(primary)
        # At once: the replicated lease and beat are still fresh.
        early = b.cli("takeover", "--margin", "1")
        assert early.returncode == 1 and "refused" in early.stderr
        assert standby.is_standby_copy(b.db)
        deadline = time.monotonic() + 60
        while True:
            done = b.cli("takeover", "--margin", "1", "--json")
            if done.returncode == 0 or time.monotonic() > deadline:
                break
            assert "refused" in done.stderr, done.stderr
            time.sleep(1)
        assert done.returncode == 0, done.stderr
        assert '"site": "site-b"' in done.stdout and '"old_site": "site-a"' in done.stdout
        assert '"replicated": true' in done.stdout
        follower.wait(20)  # the take-over stopped the follower
        assert not standby.is_standby_copy(b.db)
        # B writes now, and the take-over is recorded on B and on the replica.
        drill = a.folder / "drill.db"

        def restored(sql: str) -> list[tuple[object, ...]]:
            copy = subprocess.run(
                [sys.executable, "-m", "mim_console", "--db", str(drill), "standby"]
                + ["--from", a.url, "--once"],
                env=a.env(),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert copy.returncode == 0, copy.stderr
            return copy_query(drill, sql)

        assert restored("SELECT actor FROM event WHERE kind = 'takeover'")
        assert restored("SELECT name FROM site") == [("site-b",)]
        # B's dispatcher goes on replicating to the same URL: B's writes reach the replica.
        second = b.spawn("dispatch", "--lease-ttl", "1")
        try:
            assert b.cli("person", "add", "After", "--mobile", "+358401000011").returncode == 0
            deadline = time.monotonic() + 30
            while not restored("SELECT 1 FROM person WHERE name = 'After'"):
                assert time.monotonic() < deadline, b.log.read_text()[-2000:]
                time.sleep(1)
            # Site A comes back on its old database: it must not ship its past over B's.
            again = a.spawn("dispatch", "--lease-ttl", "1")
            try:
                wait_for(lambda: "is ahead of" in a.log.read_text(), 30, "A's refusal", a.log)
            finally:
                stop(again)
            assert restored("SELECT name FROM site") == [("site-b",)]
        finally:
            stop(second)
    finally:
        if follower is not None:
            stop(follower)
        stop(primary)


def test_takeover_force_needs_a_reason(two_sites: tuple[Site, Site]) -> None:
    a, b = two_sites
    runner = CliRunner()
    result = runner.invoke(main, ["--db", str(b.db), "takeover", "--force"])
    assert result.exit_code == 1 and "not a standby copy" in result.output
    # (with a copy) --force without --reason is refused before anything changes
    standby.write_marker(b.db, url=a.url, pid=None)
    Store(b.db).close()
    result = runner.invoke(main, ["--db", str(b.db), "takeover", "--force"])
    assert result.exit_code == 1 and "--reason" in result.output
    assert standby.is_standby_copy(b.db)


# --------------------------------------------------------------- kill and take over


def fan_out(db_path: Path, prefix: str, n: int = FAN_OUT) -> None:
    store = Store(db_path)
    drafts = [
        AlertDraft(f"+3584{i:07d}", Channel.SMS, Purpose.ALERT, f"{prefix} alert #{i}")
        for i in range(n)
    ]
    with store.write() as db:
        outbox.enqueue(db, drafts, utcnow())
    store.close()


def creates(standin: ThreadedStandIn) -> int:
    return sum(1 for r in standin.request_log() if r.method == "POST")


def all_accepted(path: Path) -> bool:
    rows = copy_query(path, "SELECT COUNT(*) FROM alert WHERE provider_sid IS NOT NULL")
    return bool(rows) and rows[0][0] == FAN_OUT


def kill_and_take_over(tmp_path: Path, standin: ThreadedStandIn, rng: random.Random) -> int:
    """One round; returns how many alerts site A had sent when it was lost."""
    url = (tmp_path / "replica").as_uri()
    a, b = make_site(tmp_path, "site-a", url), make_site(tmp_path, "site-b", url)
    Store(a.db).close()
    primary = a.spawn("dispatch", "--lease-ttl", "1", standin=standin)
    follower = b.spawn("standby", "--headless")
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: replicating(a), 30, "site A replicating", a.log)
        wait_for(lambda: standby.txid_path(b.db).exists(), 60, "the standby's copy", b.log)
        before = creates(standin)
        prefix = f"r{rng.randrange(10**9)}"
        fan_out(a.db, prefix)
        # The declaration reached site B (about a second of loss is documented; a fan-out
        # lost with its declaration is not what this counts).
        wait_for(
            lambda: bool(copy_query(b.db, f"SELECT 1 FROM alert WHERE body = '{prefix} alert #0'")),
            30,
            "the fan-out at the standby",
            b.log,
        )
        sent_then = creates(standin) - before
        # A random moment of what is left of the fan-out (the stand-in answers in 0.4 s, so at
        # 20 in flight about 50 alerts leave a second).
        target = before + rng.randrange(min(sent_then, FAN_OUT - 30), FAN_OUT - 15)
        wait_for(lambda: creates(standin) >= target, 60, "the fan-out under way", a.log)
        time.sleep(rng.random() * 0.4)  # anywhere in a request's flight, not just after one
        kill_site(primary)
        lost_at = creates(standin) - before
        deadline = time.monotonic() + 60
        while True:
            done = b.cli("takeover", "--margin", "1")
            if done.returncode == 0:
                break
            assert "refused" in done.stderr, done.stderr
            assert time.monotonic() < deadline, done.stderr
            time.sleep(0.5)
        follower.wait(20)
        second = b.spawn("dispatch", "--lease-ttl", "1", standin=standin)
        wait_for(lambda: all_accepted(b.db), 120, "every alert accepted at site B", b.log)
        sent = Counter(
            m.body for m in standin.messages(direction="outbound-api") if m.body.startswith(prefix)
        )
        expected = {f"{prefix} alert #{i}" for i in range(FAN_OUT)}
        lost = expected - set(sent)
        doubled = {body: k for body, k in sent.items() if k > 1}
        assert not lost, f"{len(lost)} alert(s) never sent (killed after {lost_at})"
        assert not doubled, f"sent twice (killed after {lost_at}): {doubled}"
        return lost_at
    finally:
        for proc in (second, follower, primary):
            if proc is not None:
                stop(proc)


@pytest.fixture
def slow_standin() -> Iterator[ThreadedStandIn]:
    s = StandIn.start_in_thread(latency=0.4)
    yield s
    s.stop()


def test_kill_and_take_over_two_rounds(tmp_path: Path, slow_standin: ThreadedStandIn) -> None:
    rng = random.Random(20)
    for n in range(2):
        print("killed after", kill_and_take_over(tmp_path / f"round{n}", slow_standin, rng))


@pytest.mark.slow
def test_kill_and_take_over_twenty_rounds(tmp_path: Path, slow_standin: ThreadedStandIn) -> None:
    rng = random.Random()
    points = [kill_and_take_over(tmp_path / f"round{n}", slow_standin, rng) for n in range(20)]
    print(f"20 rounds, site A lost after {sorted(points)} sends: 0 lost, 0 doubled")


def test_drill_takeover_on_copies(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    live = Store(db)
    live.close()
    done = subprocess.run(
        [sys.executable, "-m", "mim_console", "--db", str(db), "drill", "takeover"],
        env={**os.environ, "TWILIO_ACCOUNT_SID": "AC-live-must-not-be-used"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "take-over drill passed" in done.stdout
    assert "✖" not in done.stdout
    # The live database was only read: no site, no lease, no take-over recorded in it.
    assert copy_query(db, "SELECT COUNT(*) FROM event WHERE kind = 'takeover'") == [(0,)]
    assert copy_query(db, "SELECT COUNT(*) FROM site") == [(0,)]


async def test_a_late_alert_after_a_takeover_finds_the_old_sites_send(
    store: Store, standin: StandIn
) -> None:
    """The old site sent an escalation in its last, unreplicated second; the take-over came ten
    minutes later, and site B's own timer queues the same escalation: found, not resent."""
    from mim_console.data.lease import new_holder_id
    from mim_console.notifiers.dispatcher import Dispatcher, DispatcherConfig
    from mim_console.notifiers.senders import twilio_routes
    from mim_console.notifiers.twilio import TwilioNotifier
    from tests.twilio_fixtures import settings_of

    number, body = "+358400000077", "ESCALATION: DB down, please call the bridge"
    lost_at = utcnow()
    sites.beat(store, "site-a", "a-holder", "file:///replica", lost_at - timedelta(seconds=1))
    notifier = TwilioNotifier(settings_of(standin))
    await notifier.send_sms(number, body)  # site A's last send, never replicated
    await notifier.aclose()
    later = lost_at + timedelta(minutes=10)
    with store.write() as db:
        sites.take_over(
            db,
            site="site-b",
            holder=new_holder_id(),
            actor="b",
            url="file:///replica",
            now=later,
            position="txid 0000000000000009",
            forced=False,
            reason="",
        )
        [alert_id] = outbox.enqueue(
            db, [AlertDraft(number, Channel.SMS, Purpose.ESCALATION, body)], later
        )
        db.execute(
            "UPDATE alert SET next_attempt_at = ? WHERE id = ?", [to_iso(utcnow()), alert_id]
        )
    assert store.query("SELECT uncertain FROM alert")[0]["uncertain"] == 1  # the trigger
    config = DispatcherConfig(lease_ttl_s=1.0, heartbeat_s=0.2, request_timeout_s=5.0)
    d = Dispatcher(store, twilio_routes(TwilioNotifier(settings_of(standin))), config=config)
    task = asyncio.create_task(d.run())
    try:
        deadline = time.monotonic() + 20
        while not store.query("SELECT provider_sid FROM alert")[0]["provider_sid"]:
            assert time.monotonic() < deadline and not task.done()
            await asyncio.sleep(0.05)
    finally:
        d.stop()
        await task
        if d.routes is not None:
            await d.routes.aclose()
    assert [m.body for m in standin.messages(direction="outbound-api")] == [body]
