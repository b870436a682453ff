"""Start the Label Studio that ``./scripts/setup`` installs (``.venv-labelstudio``), offline, on
127.0.0.1: the one start used by ``allabel labelstudio serve``, the tests and
``scripts/bench_labelstudio.py``.

Why a module of its own: an offline start needs a handful of settings nobody guesses (no Sentry
DSN, or ``label-studio`` fails on ``Unknown option 'send_default_pii'``; no update check or
analytics; a preset user whose legacy API token allabel can use, switched on with
``--enable-legacy-api-token``; a data directory copied from the migrated template that setup
prepares, which cuts the first start from 25-90 s to ~8 s). They used to live only in the
tests. Label Studio runs in its own virtual environment (it pins Django and much else), so it
is a child process, never an import.

``serve`` keeps its data under ``$ALLABEL_HOME/labelstudio/`` (or ``--data``): the server's
database and media in ``data/``, the generated access token and the login password in files
only the owner can read (0600), created once and reused on every later start.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from allabel.core.config import get_settings
from allabel.core.errors import ConfigError

LS_USER = "admin@allabel.local"  # the preset Label Studio user of ``serve``


def venv() -> Path:
    """``.venv-labelstudio`` of the checkout allabel is imported from (made by ./scripts/setup)."""
    return Path(str(files("allabel"))).parent / ".venv-labelstudio"


def executable() -> Path:
    return venv() / "bin" / "label-studio"


def template() -> Path:
    """A data directory with Label Studio's migrations applied (./scripts/setup makes it)."""
    return venv() / "allabel-template"


@dataclass
class Server:
    url: str
    token: str
    startup_seconds: float
    pid: int


@dataclass
class Credentials:
    user: str
    password: str
    token: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _secret_file(path: Path) -> str:
    """The secret in ``path``, made (random, 0600) when missing; refused when others can read it."""
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{path} can be read by others (mode {path.stat().st_mode & 0o777:o}); "
                              f"chmod 600 {path}")
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(20)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def credentials(folder: Path) -> Credentials:
    """The login and API token of ``serve``'s data folder (generated on first use)."""
    return Credentials(LS_USER, _secret_file(folder / "password"), _secret_file(folder / "token"))


def serve_folder(data: Path | None = None) -> Path:
    return (data or get_settings().home / "labelstudio").resolve()


def _environment(data: Path, creds: Credentials, secret_key: str) -> dict[str, str]:
    """Only what Label Studio needs: nothing of the caller's environment leaks in (an
    ``OPENAI_API_KEY``, a proxy, a Sentry DSN), and nothing goes to the network."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(data), "LANG": "C.UTF-8",
            "LABEL_STUDIO_BASE_DATA_DIR": str(data), "LABEL_STUDIO_USERNAME": creds.user,
            "LABEL_STUDIO_PASSWORD": creds.password, "LABEL_STUDIO_USER_TOKEN": creds.token,
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true", "LATEST_VERSION_CHECK": "false",
            "COLLECT_ANALYTICS": "false", "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "",
            "SECRET_KEY": secret_key, "OMP_NUM_THREADS": "1"}


def _prepare(data: Path, use_template: bool) -> None:
    exe = executable()
    if not exe.exists():
        raise ConfigError(f"{exe} is missing: run ./scripts/setup (it makes .venv-labelstudio)")
    if use_template and template().is_dir() and not data.exists():
        shutil.copytree(template(), data)
    data.mkdir(parents=True, exist_ok=True)


@contextmanager
def running(data: Path, creds: Credentials, port: int | None = None, timeout: float = 300,
            use_template: bool = True, secret_key: str = "allabel-local") -> Iterator[Server]:
    """A Label Studio serving from ``data`` on 127.0.0.1:``port`` (a free one by default) until
    the block ends (then its process group is terminated). ConfigError with the log's tail when
    it cannot start; its output goes to ``data/server.log``."""
    _prepare(data, use_template)
    port = port or free_port()
    if not port_free(port):
        raise ConfigError(f"port {port} of 127.0.0.1 is in use; pass another --port")
    log_path = data / "server.log"
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [str(executable()), "start", "--data-dir", str(data), "--no-browser",
             "--internal-host", "127.0.0.1", "-p", str(port), "--enable-legacy-api-token"],
            stdout=log, stderr=subprocess.STDOUT, env=_environment(data, creds, secret_key),
            start_new_session=True)
        try:
            _wait_healthy(proc, url, log_path, t0, timeout)
            yield Server(url, creds.token, time.monotonic() - t0, proc.pid)
        finally:
            _stop(proc)


# the server is on 127.0.0.1: never ask a proxy of the environment (HTTP_PROXY) for it
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _wait_healthy(proc: subprocess.Popen, url: str, log_path: Path, t0: float, timeout: float) -> None:
    while True:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise ConfigError(f"Label Studio exited with {proc.returncode} (log {log_path}):\n{tail}")
        try:
            with _DIRECT.open(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() - t0 > timeout:
            raise ConfigError(f"Label Studio did not answer {url}/health within {timeout:.0f} s "
                              f"(log {log_path})")
        time.sleep(0.5)


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def export_lines(server: Server) -> list[str]:
    """What to paste into another shell so that push and pull find this server."""
    return [f"export ALLABEL_LABELSTUDIO_URL={server.url} ALLABEL_LABELSTUDIO_API_KEY={server.token}"]


def wait_forever() -> None:
    """Block until SIGINT/SIGTERM (``serve`` runs in the foreground, like ``db start`` does not)."""
    stop = {"now": False}

    def handler(_sig: int, _frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, handler)
    try:
        while not stop["now"]:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass


def credentials_secret_key(folder: Path) -> str:
    """Django's SECRET_KEY of ``serve``'s server (generated once, 0600): sessions survive restarts."""
    return _secret_file(folder / "secret_key")
