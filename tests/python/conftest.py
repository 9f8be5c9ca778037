"""Fixtures: a real nxd on an instance of its own (unique per run: pids are
reused), removed with what it made on every path."""

import glob
import os
import secrets
import signal
import subprocess
import time

import pytest

import nexus

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("NX_BIN") or os.path.join(ROOT, os.environ.get("BUILD", "build"), "bin")
# how long to wait for what must come: never a measure of speed
BUDGET = 60.0


def runtime_dir():
    """Where nxd puts its control socket and lock (as nxd chooses it)."""
    if os.environ.get("NX_RUNTIME_DIR"):
        return os.environ["NX_RUNTIME_DIR"]
    if os.getuid() == 0 or os.access("/run/nexus", os.W_OK):
        return "/run/nexus"
    if os.environ.get("XDG_RUNTIME_DIR"):
        return os.path.join(os.environ["XDG_RUNTIME_DIR"], "nexus")
    return f"/tmp/nexus-{os.getuid()}"


class Nxd:
    """One nxd process serving a private instance."""

    def __init__(self, tag, *args):
        self.instance = f"nxt-py{tag}-{os.getpid()}-{secrets.token_hex(4)}"
        self.args = list(args)
        self.proc = None
        self.log = None
        self._remove()

    def _remove(self):
        rd = runtime_dir()
        for f in (f"{rd}/{self.instance}.ctl", f"{rd}/{self.instance}.lock",
                  *glob.glob(f"/dev/shm/nx.{self.instance}.*")):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass

    def start(self):
        self.log = open(os.devnull, "wb")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "nxd"), "--instance", self.instance, "--workers", "1",
             "--quiet", "--idle", "sleep", *self.args],
            stdout=self.log, stderr=subprocess.PIPE)
        # up when a client can attach: wait for that, bounded
        end = time.monotonic() + BUDGET
        while True:
            try:
                nexus.open(self.instance, timeout_ms=2000).close()
                return self
            except (nexus.NotRunning, nexus.ProtocolError):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"nxd exited {self.proc.returncode}: "
                                       f"{self.proc.stderr.read().decode(errors='replace')}")
                if time.monotonic() > end:
                    raise
                time.sleep(0.01)

    def stop(self):
        """SIGTERM and wait: nxd stops for good."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=BUDGET)

    def cleanup(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc.stderr.close()
        if self.log is not None:
            self.log.close()
        self._remove()


@pytest.fixture(scope="module")
def nxd():
    """An nxd shared by a module's tests."""
    d = Nxd("m")
    try:
        yield d.start()
    finally:
        d.stop()
        d.cleanup()


@pytest.fixture
def own_nxd():
    """A factory of nxds for one test (extra options), each removed after it."""
    made = []

    def make(*args):
        d = Nxd("t", *args)
        made.append(d)
        return d.start()

    try:
        yield make
    finally:
        for d in made:
            d.cleanup()


@pytest.fixture
def client(nxd):
    with nexus.open(nxd.instance) as c:
        yield c
