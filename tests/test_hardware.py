from pathlib import Path

import pytest

from emolens.hardware import CpuInfo, cpu_info, parse_cpuinfo, train_precision

AMD_ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 sha_ni vaes vpclmulqdq
"""
INTEL_SPR = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512_vnni avx512_bf16 avx_vnni amx_bf16 amx_tile amx_int8
"""
INTEL_CASCADE = """model name\t: Intel(R) Xeon(R) CPU @ 2.80GHz
flags\t\t: sse2 avx avx2 avx512f avx512_vnni
"""
PI5 = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
"""


def test_amd_avx2_only_has_neither_int8_dot_nor_bf16() -> None:
    cpu = parse_cpuinfo(AMD_ZEN3, "x86_64")
    assert cpu.model == "AMD EPYC 7B13" and cpu.flags == ("avx2",)
    assert not cpu.int8_dot and not cpu.native_bf16 and cpu.x86
    assert train_precision(cpu) == "fp32"


def test_sapphire_rapids_has_vnni_amx_and_bf16() -> None:
    cpu = parse_cpuinfo(INTEL_SPR, "x86_64")
    assert set(cpu.flags) == {
        "avx2",
        "avx512f",
        "avx512_vnni",
        "avx512_bf16",
        "avx_vnni",
        "amx_bf16",
        "amx_tile",
        "amx_int8",
    }
    assert cpu.int8_dot and cpu.native_bf16
    assert train_precision(cpu) == "bf16"


def test_vnni_without_bf16_trains_in_fp32() -> None:
    cpu = parse_cpuinfo(INTEL_CASCADE, "x86_64")
    assert cpu.int8_dot and not cpu.native_bf16 and train_precision(cpu) == "fp32"


def test_arm_features_line_gives_dot_product() -> None:
    cpu = parse_cpuinfo(PI5, "aarch64")
    assert cpu.flags == ("asimd", "asimddp") and cpu.int8_dot and not cpu.x86
    assert cpu.model  # no model name line on Arm: falls back to something, never empty


def test_this_machine_matches_proc_cpuinfo() -> None:
    proc = Path("/proc/cpuinfo")
    if not proc.exists():
        pytest.skip("no /proc/cpuinfo on this system")
    text = proc.read_text()
    words = set()
    for line in text.splitlines():
        if line.split(":")[0].strip() in ("flags", "Features"):
            words.update(line.split(":", 1)[1].split())
    cpu = cpu_info()
    assert isinstance(cpu, CpuInfo)
    assert set(cpu.flags) <= words
    for flag in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_tile", "asimddp"):
        assert (flag in cpu.flags) == (flag in words), flag


def test_train_precision_follows_torch_where_installed() -> None:
    torch = pytest.importorskip("torch")
    caps = torch.cpu.get_capabilities()
    expected = "bf16" if caps.get("avx512_bf16") or caps.get("amx_bf16") else "fp32"
    assert train_precision() == expected
