"""A description of the machine a benchmark ran on: CPU model, cores, RAM, load, library versions, date.

Reads Linux's /proc files where present (other systems get ``unknown`` fields); never fails.
"""

import datetime
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Dict, Optional

UNKNOWN = "unknown"


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The first ``model name`` (x86) or ``Model``/``Hardware`` (ARM) line of /proc/cpuinfo."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return platform.processor() or UNKNOWN
    for key in ("model name", "Model", "Hardware", "cpu model"):
        for line in text.splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or UNKNOWN


def total_ram_gib(meminfo: Path = Path("/proc/meminfo")) -> Optional[float]:
    """MemTotal of /proc/meminfo in GiB, or None."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return UNKNOWN


def machine_description() -> Dict:
    """CPU, logical cores (all, and those this process may use), RAM, load averages, OS, Python, torch,
    torchaudio and espnet versions, thread settings and the date (UTC, ISO 8601)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        load = None
    return {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "ram_gib": total_ram_gib(),
        "load_average_1_5_15min": load,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch": package_version("torch"),
        "torchaudio": package_version("torchaudio"),
        "espnet": package_version("espnet"),
        "espnet_ext": package_version("espnet_ext"),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "date": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
    }
