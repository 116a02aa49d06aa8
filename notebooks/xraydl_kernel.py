"""Kernel managers that wait for the Java kernel to be ready before talking to it.

rapaio-jupyter-kernel 3.0.1 binds its ZeroMQ sockets a moment before it registers its message
handlers; a kernel_info_request that arrives in between kills its shell thread (NullPointerException
in Channels.getHandler) and the client then reports "Kernel didn't respond". Jupyter's clients send
that request as soon as the kernel process is started, so under load the race is lost often.
These managers hold the client back until the kernel's shell port is listening, plus a short grace
period. notebooks/execute.sh still retries a failed start.

Used by notebooks/execute.sh (nbconvert) and notebooks/open.sh (the browser), with this folder on
PYTHONPATH.
"""
import asyncio
import os
import time

from jupyter_client import AsyncKernelManager
from jupyter_client.ioloop import IOLoopKernelManager

TIMEOUT_S = float(os.environ.get("XRAYDL_KERNEL_READY_TIMEOUT", "90"))
GRACE_S = float(os.environ.get("XRAYDL_KERNEL_READY_GRACE", "5"))


def _listening(port: int) -> bool:
    """True when a socket of this machine listens on the TCP port (Linux /proc, no connection made)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            continue
    return False


def _ready(km) -> bool:
    return not km.has_kernel or _listening(km.shell_port) or not _alive(km)


def _alive(km) -> bool:
    proc = getattr(km.provisioner, "process", None) if km.provisioner else None
    return proc is None or proc.poll() is None


class AsyncReadyKernelManager(AsyncKernelManager):
    """For nbconvert/nbclient: --ExecutePreprocessor.kernel_manager_class=xraydl_kernel.AsyncReadyKernelManager"""

    async def post_start_kernel(self, **kw):
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline and not _ready(self):
            await asyncio.sleep(0.2)
        await asyncio.sleep(GRACE_S)
        await super().post_start_kernel(**kw)


class ReadyIOLoopKernelManager(IOLoopKernelManager):
    """For the notebook server: --MappingKernelManager.kernel_manager_class=xraydl_kernel.ReadyIOLoopKernelManager"""

    def post_start_kernel(self, **kw):
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline and not _ready(self):
            time.sleep(0.2)
        time.sleep(GRACE_S)
        return super().post_start_kernel(**kw)
