"""What every script here does at its end: say on which machine it measured, and keep the record."""

from __future__ import annotations

import sys
from typing import Any

from emolens.bench import describe_machine, machine_record
from emolens.io import write_json


def finish_benchmark(name: str, argv: list[str] | None, json_path: str | None, fields: dict[str, Any]) -> None:
    """The end of a ``benchmarks/NAME.py`` script: print the machine and the load average, and with
    ``json_path`` write ``{"benchmark", "command", **fields, "system", "load_average"}`` there."""
    machine = machine_record()
    print(describe_machine(machine))
    if json_path:
        command = f"python benchmarks/{name}.py " + " ".join(argv if argv is not None else sys.argv[1:])
        write_json(json_path, {"benchmark": name, "command": command, **fields, **machine})
        print(f"wrote {json_path}")
