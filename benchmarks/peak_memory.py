"""Peak resident memory of this process [MiB], for the benchmarks' child processes.

Linux's ``getrusage(RUSAGE_SELF).ru_maxrss`` is not the child's own peak: at
``exec`` the kernel folds the high-water mark of the address space being
replaced (the parent's, copied by ``fork`` or shared by ``vfork``) into it,
so a child started by a driver that holds a built raster stack reports at
least the driver's memory (a 400 MB parent gave a child of 8 MB an
``ru_maxrss`` of 406 MB). ``VmHWM`` in ``/proc/self/status`` is the peak of
the process's own address space, which ``exec`` resets.
"""

from __future__ import annotations

import resource
from pathlib import Path

__all__ = ["peak_rss_mib"]


def peak_rss_mib() -> float:
    """Peak resident set of this process's own address space [MiB] (VmHWM; ru_maxrss where /proc is absent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
