"""GPUMonitor: samples GPUs through NVML and the host through psutil into `logs/system/`.

Without NVML (no driver, no GPU, nvidia-ml-py missing) it logs one `gpu_unavailable`
event with the reason and keeps sampling the system; a metric a GPU does not support
(e.g. power on some boards) is left out of that sample rather than failing it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from logging_lib.loggers import SystemLogger

_MIB = 1024 * 1024
_GIB = 1024 * 1024 * 1024


class GPUMonitor:
    def __init__(self, log_dir: str | None = None, interval: float = 10, *, name: str = "gpu_monitor",
                 disk_path: str | None = None, console: bool = False) -> None:
        if not interval or interval <= 0:
            raise ValueError(f"GPUMonitor interval must be > 0 seconds, got {interval!r}")
        self.interval = float(interval)
        self.system = SystemLogger(name, log_dir, console=console)
        self.logger = self.system.logger
        self.disk_path = disk_path or str(self.system.log_dir if self.system.log_dir.exists() else Path("/"))
        self._nvml: Any = None
        self._handles: list[Any] = []
        self._nvml_checked = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._errors_seen: set[str] = set()
        self.samples_taken = 0
        import psutil

        self._psutil = psutil
        psutil.cpu_percent(interval=None)  # primes the counter: the first real sample is meaningful

    # -- NVML ------------------------------------------------------------------------
    def _init_nvml(self) -> None:
        self._nvml_checked = True
        try:
            import pynvml

            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self._nvml = pynvml
            if not self._handles:
                self.system.log_gpu_unavailable("NVML found no GPU")
        except ImportError as exc:
            self.system.log_gpu_unavailable(f"nvidia-ml-py is not installed ({exc})")
        except Exception as exc:  # pynvml.NVMLError and its many subclasses
            self.system.log_gpu_unavailable(f"NVML unavailable: {type(exc).__name__}: {exc}")

    @property
    def gpu_count(self) -> int:
        if not self._nvml_checked:
            self._init_nvml()
        return len(self._handles)

    def _gpu_sample(self, index: int, handle: Any) -> dict[str, Any]:
        nv = self._nvml
        out: dict[str, Any] = {"gpu_id": index}
        for key, read in (
            ("memory", lambda: nv.nvmlDeviceGetMemoryInfo(handle)),
            ("gpu_utilization", lambda: nv.nvmlDeviceGetUtilizationRates(handle).gpu),
            ("temperature", lambda: nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU)),
            ("power_watts", lambda: nv.nvmlDeviceGetPowerUsage(handle) / 1000.0),
        ):
            try:
                value = read()
            except nv.NVMLError:
                continue
            if key == "memory":
                out["gpu_memory_used"] = round(value.used / _MIB, 1)
                out["gpu_memory_total"] = round(value.total / _MIB, 1)
                out["gpu_memory_percent"] = round(100.0 * value.used / value.total, 2) if value.total else None
            else:
                out[key] = value
        return out

    # -- sampling --------------------------------------------------------------------
    def log_all_metrics(self) -> dict[str, Any]:
        """Take one sample of every GPU and the host, log it, and return it."""
        if not self._nvml_checked:
            self._init_nvml()
        sample: dict[str, Any] = {"gpus": []}
        for i, handle in enumerate(self._handles):
            gpu = self._gpu_sample(i, handle)
            self.system.log_gpu_metrics(**gpu)
            sample["gpus"].append(gpu)
        ps = self._psutil
        vm = ps.virtual_memory()
        system = {
            "cpu_percent": ps.cpu_percent(interval=None),
            "cpu_count": ps.cpu_count(),
            "memory_used_mib": round((vm.total - vm.available) / _MIB, 1),
            "memory_total_mib": round(vm.total / _MIB, 1),
            "memory_percent": vm.percent,
        }
        try:
            du = ps.disk_usage(self.disk_path)
            system.update(disk_used_gib=round(du.used / _GIB, 2), disk_total_gib=round(du.total / _GIB, 2),
                          disk_percent=du.percent)
        except OSError:
            pass
        self.system.log_system_metrics(**system)
        sample["system"] = system
        self.samples_taken += 1
        return sample

    def start_monitoring(self) -> GPUMonitor:
        """Sample now and then every `interval` seconds in a daemon thread until stopped."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gpu-monitor", daemon=True)
        self._thread.start()
        return self

    def stop_monitoring(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def close(self) -> None:
        self.stop_monitoring()
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError:
                pass
            self._nvml = None
        self.system.close()

    def __enter__(self) -> GPUMonitor:
        return self.start_monitoring()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.log_all_metrics()
            except Exception as exc:  # one bad sample must not kill monitoring; reported once per kind
                key = f"{type(exc).__name__}: {exc}"
                if key not in self._errors_seen:
                    self._errors_seen.add(key)
                    self.system.log_event("monitor_error", level="ERROR", error=key)
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))
