"""The local backend of a batch run: a pool of worker processes on this machine.

Each worker is a process of its own (started with ``spawn``: nothing of the driver's state is
inherited), makes its recognizer and detector once (:class:`~emolens.batch.worker.WorkerState`)
and then analyses one video at a time, sent to it by the driver. Each worker has a pipe of its
own to the driver, and nothing is shared between workers (no queue, no lock): a worker that
dies, whatever it was doing, cannot block the others. Through its pipe it sends that it is
ready, the frames it has done (for the progress bar), each video's result, or why it could not
start (its model cannot be loaded: the run stops with that error). A worker that dies while
analysing a video (a crash in a decoder) costs that video only: its pipe closes, the video is
recorded as failed, and a new worker takes its place.

Workers ignore SIGINT, so Ctrl+C in a terminal reaches only the driver, which then terminates
them: SIGTERM makes a worker discard the outputs it was writing (no temporary file stays) and
exit; one that does not exit in time is killed.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType

from emolens.batch.types import VideoJob, VideoResult, WorkerConfig
from emolens.errors import EmolensError

log = logging.getLogger(__name__)

__all__ = ["run_local"]

POLL_S = 0.5
STOP_GRACE_S = 10.0
"""Seconds a terminated worker has to discard its outputs and exit before it is killed."""


class _Stop(KeyboardInterrupt):
    """Raised in a worker by SIGTERM: it unwinds the video in progress, which discards its outputs."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise _Stop


def _worker_main(config: WorkerConfig, conn: Connection) -> None:
    """A worker process: make the state once, then analyse each job received until None (or SIGTERM)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the driver's to handle
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        from emolens.batch.worker import WorkerState, analyze_one

        try:
            state = WorkerState(config)
        except Exception as e:
            conn.send(("fatal", str(e) or type(e).__name__))
            conn.recv()  # alive until the driver has read why (it then stops every worker)
            return
        conn.send(("ready", None))
        while True:
            job = conn.recv()
            if job is None:
                return
            result = analyze_one(state, job, lambda n: conn.send(("frames", n)))
            conn.send(("result", result))
    except (_Stop, EOFError, BrokenPipeError):  # told to stop, or the driver is gone
        return


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    job: VideoJob | None = None
    ready: bool = False


class _Pool:
    """The worker processes of one run."""

    def __init__(self, config: WorkerConfig) -> None:
        self.ctx = mp.get_context("spawn")
        self.config = config
        self.workers: dict[Connection, _Worker] = {}
        self._started = 0

    def start(self) -> _Worker:
        ours, theirs = self.ctx.Pipe()
        self._started += 1
        p = self.ctx.Process(
            target=_worker_main, args=(self.config, theirs), name=f"emolens-batch-{self._started}", daemon=True
        )
        p.start()
        theirs.close()  # the worker's end lives in the worker: its death closes the pipe
        w = self.workers[ours] = _Worker(p, ours)
        return w

    def lost(self, w: _Worker, on_result: Callable[[VideoResult], None]) -> int:
        """Handle a worker whose pipe closed: record its video as failed and start another.
        Returns the number of videos so recorded. A worker that dies before it is ready stops the run."""
        del self.workers[w.conn]
        w.conn.close()
        w.process.join(STOP_GRACE_S)
        code = w.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        if not w.ready:
            raise EmolensError(f"a batch worker exited while starting ({how})")
        self.start()
        if w.job is None:
            return 0
        log.warning("%s: the worker analysing it died (%s)", w.job.path, how)
        on_result(VideoResult(w.job.id, w.job.path, error=f"the worker process died ({how})"))
        return 1

    def close(self, *, terminate: bool) -> None:
        """Ask every worker to exit (after its current video, or at once with ``terminate``), then reap them."""
        workers = list(self.workers.values())
        for w in workers:
            if not w.process.is_alive():
                continue
            if terminate:
                w.process.terminate()
            else:
                try:
                    w.conn.send(None)
                except OSError:
                    w.process.terminate()
        for w in workers:
            w.process.join(STOP_GRACE_S)
            if w.process.is_alive():
                log.warning("batch worker %s did not stop; killing it", w.process.name)
                w.process.kill()
                w.process.join()
            w.conn.close()
        self.workers.clear()


def run_local(
    jobs: Sequence[VideoJob],
    config: WorkerConfig,
    workers: int,
    on_result: Callable[[VideoResult], None],
    on_frames: Callable[[int], None] | None = None,
) -> None:
    """Analyse ``jobs`` on ``workers`` processes; ``on_result`` gets each video's result as it comes,
    ``on_frames(n)`` the frames done meanwhile. Returns when all are done. Raises an EmolensError
    when a worker cannot start (its model or detector cannot be loaded); on KeyboardInterrupt (and
    any other exception) the workers are terminated first, so the video each was analysing leaves
    no output."""
    if not jobs:
        return
    todo = deque(jobs)
    pool = _Pool(config)
    clean = False
    try:
        for _ in range(max(1, min(workers, len(jobs)))):
            pool.start()
        remaining = len(jobs)
        while remaining:
            for w in pool.workers.values():
                if w.ready and w.job is None and todo:
                    job = todo.popleft()
                    try:
                        w.conn.send(job)
                    except OSError:  # it just died: the job goes to another, the pipe's end is read below
                        todo.appendleft(job)
                    else:
                        w.job = job
            for conn in wait(list(pool.workers), timeout=POLL_S):
                assert isinstance(conn, Connection)
                w = pool.workers[conn]
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError):  # the worker died; what it sent before was read first
                    remaining -= pool.lost(w, on_result)
                    continue
                if kind == "fatal":
                    raise EmolensError(f"a batch worker could not start: {payload}")
                if kind == "ready":
                    w.ready = True
                elif kind == "frames":
                    if on_frames is not None:
                        on_frames(payload)
                elif kind == "result":
                    w.job = None
                    remaining -= 1
                    on_result(payload)
        clean = True
    finally:
        pool.close(terminate=not clean)
