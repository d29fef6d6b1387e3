"""The stack contract: `up` twice is harmless; endpoints.env names every function; and
however a foreground `scripts/dev` is ended (Ctrl-C, `kill`, the terminal closed), it
stops every process it started."""

import fcntl
import json
import os
import pty
import select
import signal
import subprocess
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from devstack.stack import FUNCTIONS, ROOT, Stack, alive, kill_group, read_env_file


def test_up_again_keeps_the_running_processes(stack):
    local = Stack.from_env()
    before = local.running()
    values = local.up()
    assert local.running() == before
    assert values == stack


def test_endpoints_file_lists_what_a_newcomer_needs(stack):
    written = read_env_file(Stack.from_env().endpoints_file)
    required = {
        "SHOPIFY_WEBHOOK_URL",
        "SHOPIFY_SHOP_DOMAIN",
        "SHOPIFY_API_SECRET",
        "PUBSUB_EMULATOR_HOST",
        "FIRESTORE_EMULATOR_HOST",
        "BIGQUERY_EMULATOR_HOST",
        "GOOGLE_CLOUD_PROJECT",
        "BIGQUERY_DATASET",
    }
    assert required <= set(written)
    assert all(f"{fn.name.upper()}_URL" in written for fn in FUNCTIONS)
    assert written["BIGQUERY_EMULATOR_HOST"].startswith("http://127.0.0.1:")


# ------------------------------------------------- every way of ending `scripts/dev`
class Terminal:
    """The master side of a pseudo-terminal, read as a terminal window reads it."""

    def __init__(self, master: int) -> None:
        self.output: list[str] = []
        self._master = master
        self._closing = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        # Only this thread touches the descriptor, and it closes it: a close() from another
        # thread while a read() is blocked on it would not hang the terminal up.
        while not self._closing.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.output.append(chunk.decode(errors="replace"))
        os.close(self._master)

    def text(self) -> str:
        return "".join(self.output)

    def close(self) -> None:
        """The window closes: the kernel hangs up on the terminal's session."""
        self._closing.set()
        self._reader.join(timeout=5)


def _dev_in_a_terminal(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Terminal, Path]:
    """`scripts/dev` (its Python part) as a newcomer runs it: in a terminal of its own
    (a pseudo-terminal that is its controlling terminal), on ports and state of its own."""
    base = int(os.environ.get("ORDERHUB_DEV_PORT_BASE", "8700")) + 50
    state = tmp_path / "dev"
    env = {
        **os.environ,
        "ORDERHUB_DEV_DIR": str(state),
        "ORDERHUB_DEV_PORT_BASE": str(base),
        "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT}",
    }
    master, slave = pty.openpty()

    def controlling_terminal() -> None:  # runs in the child, after setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "devstack.stack"],
        cwd=ROOT,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=controlling_terminal,  # the pty becomes its controlling terminal
    )
    os.close(slave)
    return proc, Terminal(master), state


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f}s for {what}")
        time.sleep(0.2)


@pytest.mark.parametrize("ending", ["SIGINT", "SIGTERM", "terminal closed"])
def test_every_way_of_ending_scripts_dev_stops_what_it_started(tmp_path: Path, ending: str) -> None:
    proc, terminal, state = _dev_in_a_terminal(tmp_path)
    started: dict[str, int] = {}
    try:
        _wait_for(lambda: "the stack runs" in terminal.text(), 240, "the stack and its demo")
        shown = terminal.text()
        assert "409.94 USD" in shown and "409.940000000" not in shown  # money as people write it
        started = json.loads((state / "pids.json").read_text())
        assert len(started) >= len(FUNCTIONS) + 3  # emulators, stand-ins, functions
        assert all(alive(pid) for pid in started.values())

        if ending == "terminal closed":
            terminal.close()
        else:  # Ctrl-C in the terminal, or `kill`
            proc.send_signal(getattr(signal, ending))
        proc.wait(timeout=60)

        left = {name: pid for name, pid in started.items() if alive(pid)}
        assert left == {}, f"still running after {ending}: {left}"
    finally:
        terminal.close()
        if proc.poll() is None:
            proc.kill()
        # Never leave a test's stack behind, pass or fail: also what was started before an
        # early assertion failed (pids.json is written as each component starts).
        pids_file = state / "pids.json"
        if not started and pids_file.exists():
            started = json.loads(pids_file.read_text())
        for pid in started.values():
            if alive(pid):
                kill_group(pid, grace=1)
