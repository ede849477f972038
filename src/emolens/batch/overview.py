"""The overview of a batch run: one self-contained HTML page (no script, no network, no image files).

It shows the videos done and failed (with the reason), the time taken, and for each video the
share of its faces (rows of the data set) in each emotion as a coloured bar, in the emotions'
colours of the timeline plot; a bar for all videos together comes first. Plain HTML and CSS, so
a run of thousands of videos is one page that any browser opens.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from emolens.batch.dataset import DatasetStats, voice_emotion
from emolens.batch.manifest import DONE, FAILED, Record
from emolens.batch.types import BatchSummary
from emolens.io import write_text_atomic

__all__ = ["render_overview", "write_overview"]

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:flex;width:320px;height:14px;background:#eee}.bar span{display:block;height:100%}
.legend span{display:inline-block;padding:1px 6px;margin-right:4px;color:#fff;border-radius:3px}
.fail{color:#a00}
"""


def _hex(label: str) -> str:
    from emolens.video.draw import COLORS

    b, g, r = COLORS.get(label, (128, 128, 128))
    return f"#{r:02x}{g:02x}{b:02x}"


def _bar(counts: Mapping[str, int], labels: Sequence[str]) -> str:
    total = sum(counts.values())
    if not total:
        return '<div class="bar" title="no faces"></div>'
    parts = []
    for lab in labels:
        share = counts.get(lab, 0) / total
        if share > 0:
            parts.append(
                f'<span style="width:{100 * share:.2f}%;background:{_hex(lab)}" title="{lab} {100 * share:.1f}%"></span>'
            )
    return f'<div class="bar">{"".join(parts)}</div>'


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _voice_text(voice: Mapping[str, Any] | None) -> str:
    """A video's voice in a few words: its most frequent emotion and its windows, or why it was not heard."""
    if not voice:
        return ""
    if not voice.get("available"):
        return f"not heard: {voice.get('reason', '')}"
    emotion = voice_emotion(voice)
    main = f"{emotion}, " if emotion else ""
    speech = int(voice.get("speech_windows", 0))
    return f"{main}{speech} of {voice.get('windows', 0)} windows speech, {voice.get('music_windows', 0)} music"


def render_overview(
    records: Sequence[Record],
    stats: DatasetStats,
    run: BatchSummary,
    voices: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> str:
    """The page for the videos ``records`` (those of the run's inputs), the data set ``stats`` and
    this run's figures ``run``; ``voices`` (video id -> its summary's ``voice`` section) adds a
    column of what each video's voice said, for a run that heard the sound."""
    labels = stats.labels
    done = [r for r in records if r.state == DONE]
    failed = [r for r in records if r.state == FAILED]
    total: dict[str, int] = {}
    for counts in stats.label_counts.values():
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
    media_s = sum(r.duration_s or 0.0 for r in done)
    work_s = sum(r.seconds for r in done)
    frames = sum(r.frames for r in done)
    e = html.escape
    out = [
        "<!doctype html><html><head><meta charset='utf-8'><title>emolens batch overview</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>emolens batch overview</h1>",
        f"<p>{e(time.strftime('%Y-%m-%d %H:%M:%S'))}: {len(records)} videos, <b>{len(done)} done</b>, "
        f"<b class='fail'>{len(failed)} failed</b>; {frames:,} frames ({_duration(media_s)} of video), "
        f"{stats.rows:,} faces over all frames; {_duration(work_s)} of worker time.</p>",
        f"<p>This run: {run.analysed} analysed, {run.skipped} already done, {run.failed} failed; "
        f"{run.frames:,} frames in {_duration(run.seconds)} ({e(run.backend)}, {run.workers} workers).</p>",
        "<p class='legend'>"
        + "".join(f"<span style='background:{_hex(lab)}'>{e(lab)}</span>" for lab in labels)
        + "</p>",
        "<h2>Emotions, all videos</h2>",
        _bar(total, labels),
    ]
    if failed:
        out.append(f"<h2>Failed ({len(failed)})</h2><table><tr><th>video</th><th>reason</th></tr>")
        out.extend(f"<tr><td>{e(r.path)}</td><td class='fail'>{e(r.error or '')}</td></tr>" for r in failed)
        out.append("</table>")
    out.append(
        f"<h2>Videos done ({len(done)})</h2><table><tr><th>video</th><th>frames</th><th>length</th>"
        "<th>faces</th><th>tracks</th><th>frames/s</th><th>emotions of its faces</th>"
        + ("<th>voice</th>" if voices is not None else "")
        + "</tr>"
    )
    for r in done:
        fps = f"{r.frames / r.seconds:.0f}" if r.seconds > 0 else ""
        out.append(
            f"<tr><td title='{e(r.path)}'>{e(Path(r.path).name)}<br><small>{e(r.id)}</small></td>"
            f"<td class='n'>{r.frames:,}</td><td class='n'>{_duration(r.duration_s or 0.0)}</td>"
            f"<td class='n'>{r.faces:,}</td><td class='n'>{r.tracks}</td><td class='n'>{fps}</td>"
            f"<td>{_bar(stats.label_counts.get(r.id, {}), labels)}</td>"
            + (f"<td>{e(_voice_text(voices.get(r.id)))}</td>" if voices is not None else "")
            + "</tr>"
        )
    out.append("</table></body></html>\n")
    return "\n".join(out)


def write_overview(
    dest: str | Path,
    records: Sequence[Record],
    stats: DatasetStats,
    run: BatchSummary,
    voices: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> None:
    """Write :func:`render_overview` to ``dest`` through an atomic write."""
    write_text_atomic(dest, render_overview(records, stats, run, voices))
