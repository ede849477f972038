"""What the CPU can do: its model name and the instruction-set flags that decide speed and results.

Pure parsing functions at the core (:func:`parse_cpuinfo`), one reader of the operating system
around them (:func:`cpu_info`). Nothing here imports torch, ONNX Runtime or OpenCV.
"""

from __future__ import annotations

import functools
import platform
import subprocess
from dataclasses import dataclass

INT8_BF16_FLAGS: tuple[str, ...] = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_bf16",
    "amx_int8",
    "amx_tile",
    "neon",
    "asimd",
    "asimddp",
    "dotprod",
    "i8mm",
    "bf16",
)
"""The flags that matter for int8 inference and bf16 training, as Linux's /proc/cpuinfo names them."""

VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
"""x86 int8 dot-product instructions: u8s8 kernels without 16-bit saturation."""
ARM_DOT_FLAGS = frozenset({"asimddp", "dotprod"})
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""x86 bf16 arithmetic in hardware; elsewhere PyTorch emulates bf16 (and is many times slower)."""

# macOS names its CPU features in sysctl; map the ones we use onto Linux's names.
_MACOS_FEATURES = {
    "hw.optional.neon": "asimd",
    "hw.optional.arm.FEAT_DotProd": "asimddp",
    "hw.optional.arm.FEAT_I8MM": "i8mm",
    "hw.optional.arm.FEAT_BF16": "bf16",
    "hw.optional.avx2_0": "avx2",
    "hw.optional.avx512f": "avx512f",
}


@dataclass(frozen=True)
class CpuInfo:
    """The CPU's model name, its architecture and the :data:`INT8_BF16_FLAGS` it has."""

    model: str
    machine: str
    flags: tuple[str, ...]

    def has(self, flag: str) -> bool:
        return flag in self.flags

    @property
    def int8_dot(self) -> bool:
        """Whether the CPU has int8 dot-product instructions (x86 VNNI or AMX, Arm dot product)."""
        return bool(VNNI_FLAGS.union(ARM_DOT_FLAGS).intersection(self.flags))

    @property
    def native_bf16(self) -> bool:
        """Whether bf16 arithmetic runs in hardware (AVX512-BF16 or AMX)."""
        return bool(NATIVE_BF16_FLAGS.intersection(self.flags))

    @property
    def x86(self) -> bool:
        return self.machine.lower() in ("x86_64", "amd64", "i386", "i686", "x86")

    def as_dict(self) -> dict[str, object]:
        return {"model": self.model, "flags": list(self.flags)}


def parse_cpuinfo(text: str, machine: str) -> CpuInfo:
    """A :class:`CpuInfo` from the text of Linux's /proc/cpuinfo (x86 ``flags``, Arm ``Features``)."""
    model = ""
    found: set[str] = set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key in ("model name", "cpu model", "hardware") and not model:
            model = value.strip()
        elif key in ("flags", "features"):
            found.update(value.split())
    if not model:
        model = platform.processor() or machine
    flags = tuple(f for f in INT8_BF16_FLAGS if f in found)
    return CpuInfo(model=model, machine=machine, flags=flags)


def _sysctl(name: str) -> str | None:
    try:
        res = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def _macos_cpu(machine: str) -> CpuInfo:
    model = _sysctl("machdep.cpu.brand_string") or platform.processor() or machine
    found = {flag for key, flag in _MACOS_FEATURES.items() if _sysctl(key) == "1"}
    if machine == "arm64":
        found.add("asimd")  # every Apple silicon CPU has Advanced SIMD
    return CpuInfo(model=model, machine=machine, flags=tuple(f for f in INT8_BF16_FLAGS if f in found))


@functools.cache
def cpu_info() -> CpuInfo:
    """This machine's CPU (read once per process: the CPU does not change under a running program)."""
    machine = platform.machine() or "unknown"
    system = platform.system()
    if system == "Linux":
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
                return parse_cpuinfo(fh.read(), machine)
        except OSError:
            pass
    elif system == "Darwin":
        return _macos_cpu(machine)
    return CpuInfo(model=platform.processor() or machine, machine=machine, flags=())


def train_precision(cpu: CpuInfo | None = None) -> str:
    """``"bf16"`` where the CPU computes bf16 natively (AVX512-BF16 or AMX), else ``"fp32"``.

    With torch installed and no ``cpu`` given, torch's own view of the CPU decides (it is what
    autocast will run on); otherwise the CPU flags do.
    """
    if cpu is None:
        try:
            import torch

            caps = torch.cpu.get_capabilities()
            return "bf16" if caps.get("avx512_bf16") or caps.get("amx_bf16") else "fp32"
        except (ImportError, AttributeError):
            cpu = cpu_info()
    return "bf16" if cpu.native_bf16 else "fp32"
