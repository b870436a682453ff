"""Start a real Label Studio from .venv-labelstudio (made by ./scripts/setup) for the tests and
scripts/bench_labelstudio.py: a throw-away data directory, a preset user with a fixed legacy
token, a free port on 127.0.0.1, and no update check, analytics or error reporting (nothing goes
to the network)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LABELSTUDIO = REPO / ".venv-labelstudio" / "bin" / "label-studio"
# A data directory with Label Studio's migrations applied, made by ./scripts/setup: copying it
# instead of migrating a fresh one cuts the server's start from 25-90 s to about 8 s here.
TEMPLATE = REPO / ".venv-labelstudio" / "allabel-template"
LS_USER, LS_TOKEN = "test@allabel.local", "allabel-test-token-0123456789"


@dataclass
class Server:
    url: str
    token: str
    startup_seconds: float


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_labelstudio(data: Path, timeout: float = 300, use_template: bool = True) -> Iterator[Server]:
    """A Label Studio serving from ``data`` (a new directory: filled from the template when
    there is one) until the block ends (then its process group is
    terminated). RuntimeError with the log's tail when it cannot start."""
    if not LABELSTUDIO.exists():
        raise RuntimeError(f"{LABELSTUDIO} is missing: run ./scripts/setup (it makes .venv-labelstudio)")
    if use_template and TEMPLATE.is_dir() and not data.exists():
        shutil.copytree(TEMPLATE, data)
    data.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(data), "LANG": "C.UTF-8",
           "LABEL_STUDIO_BASE_DATA_DIR": str(data), "LABEL_STUDIO_USERNAME": LS_USER,
           "LABEL_STUDIO_PASSWORD": "allabel-test-password", "LABEL_STUDIO_USER_TOKEN": LS_TOKEN,
           "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true", "LATEST_VERSION_CHECK": "false",
           "COLLECT_ANALYTICS": "false", "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "",
           "SECRET_KEY": "allabel-tests-only", "OMP_NUM_THREADS": "1"}
    log_path = data / "server.log"
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(LABELSTUDIO), "start", "--data-dir", str(data), "--no-browser",
             "--internal-host", "127.0.0.1", "-p", str(port), "--enable-legacy-api-token"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            while True:
                if proc.poll() is not None:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"Label Studio exited with {proc.returncode}:\n{tail}")
                try:
                    with urllib.request.urlopen(url + "/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() - t0 > timeout:
                    raise RuntimeError(f"Label Studio did not answer {url}/health within {timeout:.0f} s")
                time.sleep(0.5)
            yield Server(url, LS_TOKEN, time.monotonic() - t0)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
