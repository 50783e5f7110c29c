"""Headless Chromium, as the report's PDF and the deck's pictures start it: one executable lookup, one set of flags.

Light on purpose (standard library only): the deck command starts Chromium from its small parent process once
the supervised child has exited (crm_core/deck_pictures.py).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium")

#: Nothing may leave the machine: no background networking, and every request but loopback sent to a closed port.
OFFLINE = ("--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>")
#: Chromium in fewer processes (5 instead of 10 for one chart: the GPU and network services inside the browser's
#: process, one renderer, no zygotes, no extensions): the same output, byte for byte, for 930 MB of summed
#: resident memory instead of 1,130 MB (most of it pages the processes share; PSS ~480-500 MB either way).
#: ``--single-process`` hangs Chromium 156.
FEWER_PROCESSES = ("--renderer-process-limit=1", "--no-zygote", "--disable-extensions", "--in-process-gpu",
                   "--enable-features=NetworkServiceInProcess2")


def chromium_path() -> str | None:
    """The Chromium (or Chrome) executable, from $CRM_CHROMIUM or the PATH; None when absent."""
    configured = os.environ.get("CRM_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def headless(chromium: str, profile: Path | str) -> list[str]:
    """The start of every Chromium command line: headless, offline, in few processes, a throwaway profile."""
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            *OFFLINE, *FEWER_PROCESSES, f"--user-data-dir={profile}"]
