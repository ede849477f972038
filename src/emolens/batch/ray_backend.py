"""The Ray backend of a batch run: the same work as the local pool, as Ray tasks (the ``cluster`` extra).

Each video is one task asking for one CPU; a Ray worker process keeps its recognizer and
detector between tasks (:func:`~emolens.batch.worker.cached_state`), so they are made once per
worker, as in the local pool. At most ``workers`` tasks are in flight (default: the cluster's
CPUs), so the driver does not queue thousands at once. A task that fails for a reason of Ray's
(its worker or node died) costs that video only: it is recorded as failed.

``address``: ``"local"`` starts a Ray of this machine's own (``workers`` CPUs, by default all) and
shuts it down at the end; ``"auto"``, ``"HOST:PORT"`` or ``"ray://HOST:PORT"`` join a running
cluster. When Ray is already initialised in this process (``ray.init`` was called), that one is
used and left running. On a cluster, the videos and the output folder must be on storage that
every node sees at the same path, and emolens must be installed on every node.

On Ctrl+C the tasks in flight are cancelled: each gets a KeyboardInterrupt, which discards the
outputs it was writing.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from emolens.batch.types import VideoJob, VideoResult, WorkerConfig
from emolens.errors import EmolensError

log = logging.getLogger(__name__)

__all__ = ["ray_address", "run_ray"]

POLL_S = 0.5
CANCEL_GRACE_S = 10.0


def ray_address(value: str | bool | None) -> str | None:
    """The Ray address a user's ``ray`` setting stands for: None (no Ray) for False or None,
    ``"local"`` for True, ``"local"``/``"auto"``/``"HOST:PORT"``/``"ray://..."`` as given; anything else
    is an EmolensError."""
    if value is None or value is False:
        return None
    if value is True:
        return "local"
    text = str(value).strip()
    import re

    if text in ("local", "auto") or text.startswith("ray://") or re.fullmatch(r"[\w.-]+:\d+", text):
        return text
    raise EmolensError(
        f"--ray {text!r} is not a Ray address: give ray://HOST:PORT, HOST:PORT or auto, or none for a local Ray "
        "(write the inputs before --ray, or --ray=ADDRESS)"
    )


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise EmolensError("--ray needs Ray: pip install 'emolens[cluster]'") from None
    return ray


def _task(config: WorkerConfig, job: VideoJob) -> VideoResult:
    """One video, in a Ray worker process."""
    from emolens.batch.worker import analyze_one, cached_state

    return analyze_one(cached_state(config), job)


def _first_line(e: BaseException) -> str:
    lines = [line for line in str(e).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(e).__name__


def run_ray(
    jobs: Sequence[VideoJob],
    config: WorkerConfig,
    address: str,
    workers: int | None,
    on_result: Callable[[VideoResult], None],
    on_frames: Callable[[int], None] | None = None,
) -> int:
    """Analyse ``jobs`` as Ray tasks; ``on_result`` and ``on_frames`` as for
    :func:`~emolens.batch.local.run_local` (frames are counted when a video ends). Returns the
    number of tasks run at once (the cluster's CPUs, or ``workers`` when fewer)."""
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        if address == "local":
            ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, logging_level=logging.ERROR)
        else:
            ray.init(address=address, logging_level=logging.WARNING)
        started = True
    pending: dict[Any, VideoJob] = {}
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        limit = min(workers, cpus) if workers else cpus
        if not jobs:
            return limit
        log.info("Ray: %d CPUs, %d tasks at once", cpus, limit)
        remote = ray.remote(num_cpus=1, max_retries=0)(_task)
        cfg = ray.put(config)
        todo = deque(jobs)
        while todo or pending:
            while todo and len(pending) < limit:
                job = todo.popleft()
                pending[remote.remote(cfg, job)] = job
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            for ref in ready:
                job = pending.pop(ref)
                try:
                    result: VideoResult = ray.get(ref)
                except ray.exceptions.RayError as e:
                    log.warning("%s: the Ray task failed: %s", job.path, _first_line(e))
                    result = VideoResult(job.id, job.path, error=f"the Ray task failed: {_first_line(e)}")
                if on_frames is not None and result.frames:
                    on_frames(result.frames)
                on_result(result)
        return limit
    except BaseException:
        _cancel(ray, list(pending))
        raise
    finally:
        if started:
            ray.shutdown()


def _cancel(ray: Any, refs: list[Any]) -> None:
    """Cancel the tasks in flight (a KeyboardInterrupt in each), wait for them a little, then force."""
    if not refs:
        return
    for ref in refs:
        ray.cancel(ref)
    _, left = ray.wait(refs, num_returns=len(refs), timeout=CANCEL_GRACE_S)
    for ref in left:
        ray.cancel(ref, force=True)
