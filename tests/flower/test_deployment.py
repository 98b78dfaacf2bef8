"""Real processes on loopback: a SuperLink and SuperNodes over TLS, faults injected.

Not part of `./dev test` (a run takes minutes: each message round trip in Flower's deployment
runtime costs seconds); run with `./dev test-flower`. Every process is started here in its
own session and killed, with everything below it, when the test ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
BIN = Path(sys.executable).parent
APP = HERE / "app"
sys.path.insert(0, str(APP))
from fault_app.updates import mean_of  # noqa: E402

from secagg.integrations.flower import make_keys  # noqa: E402

# A fault-free stage takes about 8 s here (an idle SuperNode polls every 3 s, and each message
# starts a ClientApp process: 7 of them on 2 cores); 20 s leaves room for a loaded machine.
STAGE_TIMEOUT = 20.0
RUN_LIMIT = 1200.0  # a faulty federation run must end within this (it takes about 7 minutes)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    )
    children = [int(p) for p in out.stdout.split()]
    return children + [d for c in children for d in descendants(c)]


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process, its group and every process below it (flower-superexec runs in a
    session of its own, so the group alone would miss it)."""
    pids = descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=10)


@dataclass
class Deployment:
    work: Path
    port: int
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.work / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            list(args),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
            cwd=self.work,
        )
        self.procs[name] = proc
        return proc

    def certs(self, name: str) -> Path:
        folder = self.work / name
        subprocess.run(
            [sys.executable, str(ROOT / "examples/flower-digits/make_certs.py"), str(folder)],
            check=True,
            env=self.env,
        )
        return folder

    def superlink(self, certs: Path) -> None:
        self.start(
            "superlink",
            str(BIN / "flower-superlink"),
            "--ssl-ca-certfile",
            str(certs / "ca.crt"),
            "--ssl-certfile",
            str(certs / "server.pem"),
            "--ssl-keyfile",
            str(certs / "server.key"),
            "--isolation",
            "subprocess",
            "--disable-runtime-dependency-installation",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        raise AssertionError("the SuperLink did not start listening")

    def supernode(
        self, i: int, ca: Path, node_config: str, *extra: str, tag: str = ""
    ) -> subprocess.Popen[bytes]:
        return self.start(
            f"supernode-{i}{'-' + tag if tag else ''}",
            str(BIN / "flower-supernode"),
            "--root-certificates",
            str(ca),
            "--superlink",
            f"127.0.0.1:{self.port}",
            "--host",
            "127.0.0.1",
            "--port",
            str(free_port()),
            "--node-config",
            node_config,
            *extra,
        )

    def log(self, name: str) -> str:
        return (self.work / f"{name}.log").read_text(errors="replace")


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    env = dict(os.environ)
    env.update(
        FLWR_HOME=str(tmp_path / "flwr-home"),
        FLWR_TELEMETRY_ENABLED="0",
        FLWR_DISABLE_UPDATE_CHECK="1",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    (tmp_path / "flwr-home").mkdir()
    d = Deployment(tmp_path, free_port(), env)
    try:
        yield d
    finally:
        for proc in d.procs.values():
            kill_tree(proc)


@dataclass(frozen=True)
class Plan:
    """One federation run: 7 SuperNodes, faults per partition ("kind:round:step"), what each
    round must end with. Every killed SuperNode is started again at once (a new Flower node,
    the same partition and key, no fault), and the ServerApp starts a round only when exactly 7
    nodes are listed, so n = 7 and t = 4 in every round."""

    security: str
    stages: tuple[str, ...]
    faults: dict[int, str]
    partitions: dict[int, list[int]]  # round -> partitions in the aggregate
    drops: dict[int, list[tuple[str, str]]]  # round -> (stage, reason) of every drop


SEMI_HONEST = ("advertise_keys", "share_keys", "share_check", "masked_input", "unmasking")
MALICIOUS = (*SEMI_HONEST[:4], "consistency_check", "unmasking")
STALL = f"stall-seconds={STAGE_TIMEOUT + 6}"

PLANS = {
    "semi_honest": Plan(
        "semi_honest",
        SEMI_HONEST,
        {
            0: "hang:1:0",  # SIGKILL while training / advertising keys
            1: "hang:1:1",  # SIGKILL during key sharing
            2: "stall:1:2",  # answers the share check after the deadline
            3: "tamper:2:3",  # its masked input arrives with a flipped byte
            4: "hang:2:3",  # SIGKILL before sending its masked input
            5: "hang:2:4",  # SIGKILL during unmasking (its input is in the sum already)
            6: "hang:3:2",  # SIGKILL during the share check
        },
        {1: [3, 4, 5, 6], 2: [0, 1, 2, 5, 6], 3: [0, 1, 2, 3, 4, 5], 4: list(range(7))},
        {
            1: [
                ("advertise_keys", "TIMED_OUT"),
                ("share_keys", "TIMED_OUT"),
                ("share_check", "TIMED_OUT"),
            ],
            2: [
                ("masked_input", "DECODE_FAILED"),
                ("masked_input", "TIMED_OUT"),
                ("unmasking", "TIMED_OUT"),
            ],
            3: [("share_check", "TIMED_OUT")],
            4: [],
        },
    ),
    "malicious": Plan(
        "malicious",
        MALICIOUS,
        {
            0: "hang:1:0",  # SIGKILL while training / advertising signed keys
            1: "hang:1:2",  # SIGKILL during the share check
            2: "stall:1:4",  # signs the survivor set after the deadline (in the sum)
            3: "hang:2:1",  # SIGKILL during key sharing
            4: "hang:2:3",  # SIGKILL before sending its masked input
            5: "hang:2:5",  # SIGKILL during unmasking (in the sum)
            6: "hang:3:4",  # SIGKILL during the consistency check (in the sum)
        },
        {1: [2, 3, 4, 5, 6], 2: [0, 1, 2, 5, 6], 3: list(range(7)), 4: list(range(7))},
        {
            1: [
                ("advertise_keys", "TIMED_OUT"),
                ("share_check", "TIMED_OUT"),
                ("consistency_check", "TIMED_OUT"),
            ],
            2: [
                ("share_keys", "TIMED_OUT"),
                ("masked_input", "TIMED_OUT"),
                ("unmasking", "TIMED_OUT"),
            ],
            3: [("consistency_check", "TIMED_OUT")],
            4: [],
        },
    ),
}


@pytest.mark.parametrize("security", ["semi_honest", "malicious"])
def test_kill_stall_and_tamper_at_every_stage_over_tls(
    deployment: Deployment, security: str
) -> None:
    plan = PLANS[security]
    d = deployment
    certs = d.certs("certs")
    d.superlink(certs)
    markers = d.work / "markers"
    markers.mkdir()
    keys = d.work / "keys"
    if security == "malicious":
        make_keys(keys, 7)

    def node_config(i: int, fault: str) -> str:
        config = f"partition-id={i} num-partitions=7 marker-dir='{markers}'"
        if security == "malicious":
            config += f" secagg-signing-key='{keys / f'node-{i}.key'}'"
            config += f" secagg-roster='{keys / 'roster.json'}'"
        if fault:
            config += f" fault='{fault}'"
        if fault.startswith("stall"):
            config += f" {STALL}"
        return config

    nodes = {
        i: d.supernode(i, certs / "ca.crt", node_config(i, plan.faults.get(i, "")))
        for i in range(7)
    }
    killed: list[int] = []
    stop = threading.Event()

    def killer() -> None:  # kill -9 a SuperNode (and its app processes) once it hangs
        while not stop.is_set():
            for marker in markers.glob("hang-*"):
                i = int(marker.name.split("-")[1])
                if i not in killed:
                    kill_tree(nodes[i])
                    killed.append(i)
                    # Back at once as a new Flower node: same partition and key, no fault.
                    nodes[i] = d.supernode(i, certs / "ca.crt", node_config(i, ""), tag="restart")
            time.sleep(0.2)

    watcher = threading.Thread(target=killer, daemon=True)
    watcher.start()
    (d.work / "flwr-home" / "config.toml").write_text(
        f'[superlink]\ndefault = "tls"\n\n[superlink.tls]\naddress = "127.0.0.1:{d.port}"\n'
        f'root-certificates = "{certs / "ca.crt"}"\n'
    )
    report_path = d.work / "report.json"
    started = time.monotonic()
    try:
        run = subprocess.run(
            [
                str(BIN / "flwr"),
                "run",
                str(APP),
                "tls",
                "--stream",
                "--run-config",
                f"report-path='{report_path}' stage-timeout={STAGE_TIMEOUT} "
                f"security='{security}' roster-path='{keys / 'roster.json'}'",
            ],
            capture_output=True,
            text=True,
            env=d.env,
            timeout=RUN_LIMIT,
            check=False,
        )
        (d.work / "flwr-run.log").write_text(run.stdout + run.stderr)
    finally:
        stop.set()
        watcher.join()
    print(f"{security}: federation run took {time.monotonic() - started:.0f} s")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    reports: list[dict[str, Any]] = json.loads(report_path.read_text())
    for r in reports:  # what happened, for the log
        print(
            f"round {r['server_round']} {r['status']} {r['reason']} {r['partitions']} drops "
            f"{[(d['client_id'], d['phase'], d['reason']) for d in r['drops']]} refusals "
            f"{r['refusals']} stages {[(s['phase'], round(s['seconds'], 1)) for s in r['stages']]}"
        )
    assert [r["server_round"] for r in reports] == [1, 2, 3, 4]
    for r in reports:
        n = int(r["server_round"])
        assert r["status"] == "completed", r
        assert r["security"] == security and len(r["nodes"]) == 7 and r["threshold"] == 4
        assert tuple(s["phase"] for s in r["stages"]) == plan.stages
        assert r["partitions"] == plan.partitions[n]
        model = [np.asarray(v, dtype=np.float32) for v in r["model"]]
        want = [w.ravel() for w in mean_of(plan.partitions[n], n)]
        for got, expected in zip(model, want, strict=True):
            # secagg's mean is exact; Flower's legacy FedAvg.aggregate_fit then re-averages the
            # survivors' identical copies in float32 (each scaled by 1/n): a few ulps.
            np.testing.assert_array_max_ulp(got, expected, maxulp=len(plan.partitions[n]))
        drops = sorted((drop["phase"], drop["reason"]) for drop in r["drops"])
        assert drops == sorted(plan.drops[n]), (n, r["drops"])
    assert sorted(killed) == sorted(i for i, f in plan.faults.items() if f.startswith("hang"))
    if security == "malicious":
        # Every node proved its key once; the restarted ones again under their new node ids.
        hellos = [r["hello"] for r in reports]
        assert hellos[0]["prompted"] == 7
        assert sum(h["prompted"] for h in hellos[1:] if h) == len(killed)


def test_a_supernode_with_the_wrong_ca_is_refused(deployment: Deployment) -> None:
    d = deployment
    good, other = d.certs("certs"), d.certs("other-ca")
    d.superlink(good)
    node = d.supernode(
        0,
        other / "ca.crt",
        "partition-id=0 num-partitions=1",
        "--max-retries",
        "2",
        "--max-wait-time",
        "20",
    )
    code = node.wait(timeout=120)
    assert code != 0
    log = d.log("supernode-0").lower()
    assert "certificate verify failed" in log, log[-2000:]  # refused by TLS, nothing else
