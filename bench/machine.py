"""What a benchmark ran on, printed above its tables: timings mean little without it."""

from __future__ import annotations

import os
import platform


def machine_facts() -> str:
    """Host, CPU, cores, load (these machines are shared), Python and ONNX Runtime."""
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        load = " | load %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = ""
    return (f"{platform.node()} | {cpu} | {os.cpu_count()} cores{load} | Python {platform.python_version()} | "
            f"ONNX Runtime {onnxruntime.__version__} ({', '.join(onnxruntime.get_available_providers())})")
