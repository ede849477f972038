"""Decode the sound of any file FFmpeg reads (audio files, the audio track of videos) with PyAV.

The first audio track is decoded, resampled by FFmpeg to the rate asked for (its channel layout
kept), and its channels averaged into one. A file without an audio track (a silent video) raises
:class:`NoAudioError`, a :class:`~emolens.errors.DataError`: callers that accept silent videos catch
that one. Times count from the first decoded sample of the track (a video's audio may start a
little after its first frame).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emolens.audio import MAX_DURATION_S
from emolens.errors import DataError
from emolens.filekind import is_text_file

log = logging.getLogger(__name__)


IMAGE_DEMUXERS = frozenset({"image2", "gif", "webp", "apng"})
"""FFmpeg's demuxers of still pictures (besides its ``*_pipe`` ones): a file it opens with one of them is
an image, whatever its name says."""


class NoAudioError(DataError):
    """The file has no audio track (e.g. a video without sound, or an image)."""


class TooLongError(DataError):
    """The file holds more sound than ``max_duration_s`` (refused as soon as decoding passes it)."""


@dataclass(frozen=True)
class DecodedAudio:
    """Mono float32 ``samples`` at ``sample_rate``; what the file held: ``source_rate``, ``channels``, ``codec``."""

    samples: np.ndarray
    sample_rate: int
    source_rate: int
    channels: int
    codec: str

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def decode_audio(
    path: str | Path, sample_rate: int = 16000, *, max_duration_s: float | None = MAX_DURATION_S
) -> DecodedAudio:
    """Decode the first audio track of ``path`` to mono float32 at ``sample_rate``.

    Raises :class:`NoAudioError` for a file without audio, and a DataError for a missing or
    unreadable file or one longer than ``max_duration_s`` (None: no limit), refused as soon as
    decoding passes the limit. Undecodable packets inside a readable file are skipped with a warning.
    """
    import av

    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder, not an audio file ('emolens audio' takes folders)")
    if not path.is_file():
        raise DataError(f"audio file not found: {path}")
    if sample_rate < 1000:
        raise DataError(f"sample rate must be at least 1000 Hz, got {sample_rate}")
    limit = None if max_duration_s is None else int(max_duration_s * sample_rate)
    if path.stat().st_size == 0:
        raise DataError(f"cannot read {path}: the file is empty")
    if is_text_file(path):  # FFmpeg would open it as text to display (its "tty" demuxer)
        raise DataError(f"{path} is a text file, not sound")
    try:
        container = av.open(str(path))
    except av.FFmpegError as e:
        raise DataError(
            f"cannot read {path}: not an audio or video file, or a corrupt or truncated one ({e.strerror})"
        ) from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    with container:
        if not container.streams.audio:
            if container.format.name in IMAGE_DEMUXERS or container.format.name.endswith("_pipe"):
                raise NoAudioError(f"{path} is an image, not sound")
            kind = "a video" if container.streams.video else "a file"
            raise NoAudioError(f"{path} has no audio track ({kind} without sound)")
        stream = container.streams.audio[0]
        codec = stream.codec_context
        source_rate, channels = int(codec.sample_rate or 0), int(codec.channels or 0)
        resampler = av.AudioResampler(format="fltp", rate=sample_rate)
        chunks: list[np.ndarray] = []
        total, errors = 0, 0

        def add(frames: list[av.AudioFrame]) -> None:
            nonlocal total
            for f in frames:
                a = f.to_ndarray()
                chunks.append(a.mean(axis=0, dtype=np.float32) if a.shape[0] > 1 else a[0].astype(np.float32))
                total += a.shape[1]
            if limit is not None and total > limit:
                raise TooLongError(
                    f"{path} holds more than {max_duration_s:g} s of sound; cut it or raise the limit (--max-duration)"
                )

        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.FFmpegError as e:
                    errors += 1
                    if errors == 1:
                        log.warning("%s: skipping undecodable sound: %s", path, e)
                    continue
                for frame in frames:
                    add(resampler.resample(frame))
            add(resampler.resample(None))
        except av.FFmpegError as e:  # the container itself broke off
            if not chunks:
                raise DataError(f"cannot decode the sound of {path}: {e}") from None
            log.warning("%s: sound cut short by a damaged file: %s", path, e)
        except ValueError as e:  # PyAV: a change of layout or format in the middle of the track
            raise DataError(f"cannot decode the sound of {path}: {e}") from None
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if not np.isfinite(samples).all():
        samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    return DecodedAudio(samples, sample_rate, source_rate, channels, codec.name)
