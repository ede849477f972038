"""Analysing thousands of videos: resumable batch runs on this machine's cores or on a Ray cluster.

:func:`analyze_videos` (also ``emolens.analyze_videos`` and ``emolens batch``) finds the videos,
analyses each with the same pipeline as ``emolens video``, and writes one data set for the run.
The modules, one job each: ``inputs`` (find and fingerprint videos), ``manifest`` (what became of
each, SQLite), ``worker`` (one video in a worker), ``local`` (the process pool), ``ray_backend``
(Ray tasks), ``dataset`` (Parquet and the per-video table), ``overview`` (the HTML page), ``run``
(the whole run), ``cli`` (``emolens batch``). Importing this package imports nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emolens.batch.run import analyze_videos
    from emolens.batch.types import BatchSummary, Failure

__all__ = ["BatchSummary", "Failure", "analyze_videos"]

_LAZY = {"analyze_videos": "emolens.batch.run", "BatchSummary": "emolens.batch.types", "Failure": "emolens.batch.types"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'emolens.batch' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
