"""``pdf_engine = "chromium"``: print with Debian's headless chromium, for outputs that need JavaScript.

Chromium runs the page's inline scripts (an embedded plotly or vega chart) before printing,
which WeasyPrint cannot. It is started the way a service's sandbox allows and a report needs:

- ``--no-sandbox``: under systemd's ``NoNewPrivileges`` and without user namespaces chromium's
  own sandbox cannot start; the service's sandbox is the boundary;
- a throw-away profile, also used as ``HOME`` (``ProtectHome`` hides the real one);
- no network at all: every host name resolves to nothing and every connection goes to a dead
  proxy, so a script that tries to fetch something fails at once instead of leaking or hanging;
- ``--virtual-time-budget`` lets timers and animations finish before the page is printed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from autoflow_watch.processes import die_with_parent
from autoflow_watch.render.errors import RenderError

DEBIAN_CHROMIUM = "/usr/bin/chromium"
TIMEOUT_S = 120
BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
)
OFFLINE_FLAGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
)


def chromium_binary() -> str | None:
    """Debian's chromium, or another chromium/chrome on the PATH; None when there is none."""
    if os.access(DEBIAN_CHROMIUM, os.X_OK):
        return DEBIAN_CHROMIUM
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def chromium_pdf(html_path: Path, output_path: Path) -> None:
    """Print ``html_path`` to ``output_path`` with headless chromium, or raise :class:`RenderError`."""
    binary = chromium_binary()
    if binary is None:
        raise RenderError(
            'pdf_engine = "chromium" needs Debian\'s chromium, which is not installed '
            '(apt-get install chromium), or set pdf_engine = "weasyprint"'
        )
    with tempfile.TemporaryDirectory(prefix="afw-chromium-", ignore_cleanup_errors=True) as profile:
        args = [
            binary,
            *BROWSER_FLAGS,
            *OFFLINE_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=15000",
            "--run-all-compositor-stages-before-draw",
            "--no-pdf-header-footer",
            f"--print-to-pdf={output_path}",
            html_path.resolve().as_uri(),
        ]
        env = {**os.environ, "HOME": profile, "XDG_CONFIG_HOME": profile, "XDG_CACHE_HOME": profile}
        returncode, stderr = _run(args, env)
    if returncode != 0 or not output_path.exists() or output_path.stat().st_size == 0:
        last = (stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1][:200]
        raise RenderError(f"chromium could not print the report (exit {returncode}): {last}")


def _run(args: list[str], env: dict[str, str]) -> tuple[int, bytes]:
    """Run chromium in this worker's process group (a kill of the run reaches it) and dying with us."""
    process = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=die_with_parent,  # only a prctl between fork and exec
    )
    try:
        _, stderr = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()  # its renderer and zygote processes exit when their browser process is gone
        process.communicate()
        raise RenderError(f"chromium took over {TIMEOUT_S} s to print the report to PDF") from None
    return process.returncode, stderr
