"""`make lab`: JupyterLab starts, as the Makefile starts it, serving the exploration notebook on the
project's `audit` kernel."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO

STARTUP = 120  # seconds: a first start of JupyterLab on a busy 2-core machine builds its caches


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _serving(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_serves_the_exploration_notebook_on_the_audit_kernel(tmp_path: Path):
    port, token = _free_port(), secrets.token_hex(16)
    lab_args = f"--no-browser --ServerApp.ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 --IdentityProvider.token={token}"
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root, which jupyter refuses by default
        lab_args += " --allow-root"
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),  # nothing of this test in the user's Jupyter folders
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
    }
    log_path = tmp_path / "lab.log"
    # The target as the Makefile has it; `-o` keeps make from reinstalling (.venv is set up already).
    with log_path.open("wb") as log:
        lab = subprocess.Popen(
            ["make", "--no-print-directory", "-o", ".venv/.installed", "lab", f"LAB_ARGS={lab_args}"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: make, its shell and jupyter stop together
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP
        status, body = 0, b""
        while time.monotonic() < deadline and lab.poll() is None:
            if _serving(port):
                status, body = _get(f"{base}/api/contents/explore.ipynb?token={token}")
                if status == 200:
                    break
            time.sleep(1)
        output = log_path.read_text(encoding="utf-8", errors="replace")
        assert lab.poll() is None, f"make lab exited ({lab.returncode}) before serving:\n{output}"
        assert status == 200, f"GET /api/contents/explore.ipynb: {status}\n{output}"
        notebook = json.loads(body)
        assert notebook["name"] == "explore.ipynb" and notebook["type"] == "notebook"
        assert notebook["content"]["metadata"]["kernelspec"]["name"] == "audit"
        assert any("import audit" in "".join(cell["source"]) for cell in notebook["content"]["cells"])

        status, page = _get(f"{base}/lab/tree/explore.ipynb?token={token}")
        assert status == 200 and b"JupyterLab" in page
        # Before: "Would you like to get notified about official Jupyter news?" (Yes fetched from the
        # internet). The project's jupyter/ config turns the announcements off for this lab only.
        config = json.loads(re.search(rb'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S)[1])
        assert "@jupyterlab/apputils-extension:announcements" in config["disabledExtensions"]
        assert config["news"] == {"disabled": True}
        status, news = _get(f"{base}/lab/api/news?token={token}")
        assert status == 200 and json.loads(news)["news"] == []
        status, update = _get(f"{base}/lab/api/update?token={token}")
        assert status == 200 and json.loads(update)["notification"] is None
        assert not (tmp_path / "config" / "labconfig").exists()  # nothing written to the user's Jupyter config
        # Before: the interface was in English. Chinese is the default language (the language pack
        # jupyterlab-language-pack-zh-CN, a runtime dependency, with the project's overrides.json).
        status, setting = _get(f"{base}/lab/api/settings/@jupyterlab/translation-extension:plugin?token={token}")
        assert status == 200 and json.loads(setting)["schema"]["properties"]["locale"]["default"] == "zh_CN"
        status, packs = _get(f"{base}/lab/api/translations?token={token}")
        assert status == 200 and "zh_CN" in json.loads(packs)["data"]
        status, chinese = _get(f"{base}/lab/api/translations/zh_CN?token={token}")
        assert status == 200 and json.loads(chinese)["data"]["jupyterlab"]["Settings"] == ["设置"]

        status, specs = _get(f"{base}/api/kernelspecs?token={token}")
        assert status == 200 and "audit" in json.loads(specs)["kernelspecs"]
        assert "[C " not in log_path.read_text(encoding="utf-8", errors="replace")  # no critical server error
    finally:
        if lab.poll() is None:
            os.killpg(lab.pid, signal.SIGTERM)  # what Ctrl-C's second press does: jupyter shuts down
            try:
                lab.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(lab.pid, signal.SIGKILL)
                lab.wait()
    stop = time.monotonic() + 30
    while time.monotonic() < stop and _serving(port):
        time.sleep(0.5)
    assert not _serving(port), "the lab server kept running after make lab was stopped"
