"""CPU memory of a benchmark process (Linux): the peak resident set size above a resting point.

:meth:`CpuPeak.rest` marks the resting point: it returns freed heap pages to the OS
(``malloc_trim``), records the resident set size (``VmRSS``) and resets the peak to it
(``/proc/self/clear_refs``, Linux >= 4.0). :meth:`CpuPeak.above_rest` is then the peak
(``VmHWM``) minus that rest. Where the peak cannot be reset, the peak of the whole process
(``ru_maxrss``) stands in, which includes whatever came before the rest.
"""

from __future__ import annotations

import ctypes
import gc
import resource


def status_bytes(field: str) -> int | None:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in bytes; None where unavailable."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class CpuPeak:
    def __init__(self) -> None:
        self.rest_bytes = 0
        self.exact = False

    def rest(self) -> None:
        gc.collect()
        try:
            ctypes.CDLL('libc.so.6').malloc_trim(0)
        except (OSError, AttributeError):
            pass
        self.rest_bytes = status_bytes('VmRSS') or 0
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')  # VmHWM := VmRSS
            self.exact = True
        except OSError:
            self.exact = False

    def above_rest(self) -> int:
        peak = status_bytes('VmHWM') if self.exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return peak - self.rest_bytes

    @property
    def description(self) -> str:
        return 'cpu VmHWM - VmRSS at rest' if self.exact else 'cpu ru_maxrss - VmRSS at rest (no clear_refs)'
