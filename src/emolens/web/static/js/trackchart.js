// The chart under the annotated video: each person's (track's) valence over time, one colour per track,
// with a playhead that follows the video; clicking the chart (or the arrow keys on it) seeks the video.

import { fitCanvas } from "./ui.js";

/** Track colours when the summary gives none (Tableau 10). */
export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
const MARGIN = { left: 40, right: 10, top: 10, bottom: 24 }; // CSS pixels
const GAP_S = 0.5; // a track unseen for longer than this: its line breaks
const KEY_STEP_S = 1;

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** The colour of the index-th track: its own (#rrggbb, as drawn in the video) or the palette's. */
export function trackColor(track, index) {
  const own = track && typeof track.color === "string" ? track.color : "";
  return /^#[0-9a-f]{6}$/i.test(own) ? own : PALETTE[index % PALETTE.length];
}

function seconds(value) {
  return `${value.toFixed(value < 10 ? 1 : 0)} s`;
}

export class TrackChart {
  #canvas;
  #legend;
  #video;
  #series = []; // { track_id, color, times, valence }
  #fallbackDuration = 0;
  #base = document.createElement("canvas"); // grid and lines; the playhead is drawn over a copy of it
  #frameRequest = 0;
  #playhead = 0;

  /** canvas: the chart; legend: a list for the track names; video: the player it follows and seeks. */
  constructor(canvas, legend, video) {
    this.#canvas = canvas;
    this.#legend = legend;
    this.#video = video;
    for (const type of ["loadedmetadata", "durationchange"]) video.addEventListener(type, () => this.redraw());
    for (const type of ["timeupdate", "seeking", "seeked", "pause", "emptied"]) {
      video.addEventListener(type, () => {
        if (type !== "timeupdate") this.#cancelFrames();
        this.#drawPlayhead(video.currentTime);
      });
    }
    // follow the frames again once playing (after a play, or a seek while playing)
    for (const type of ["play", "playing", "seeked"]) {
      video.addEventListener(type, () => {
        if (!video.paused) this.#followFrames();
      });
    }
    canvas.addEventListener("click", (event) => this.#onClick(event));
    canvas.addEventListener("keydown", (event) => this.#onKey(event));
    new ResizeObserver(() => this.redraw()).observe(canvas);
  }

  /** Show a timeline (GET .../timeline) with the summary's tracks (for their colours); duration: the job's, until the video says. */
  show(timeline, tracks, duration) {
    const colors = new Map((tracks || []).map((track, i) => [track.track_id, trackColor(track, i)]));
    this.#series = (timeline.tracks || []).map((track, i) => ({ ...track, color: colors.get(track.track_id) || trackColor(null, i) }));
    this.#fallbackDuration = Math.max(Number(duration) || 0, Number(timeline.last_s) || 0);
    this.#legend.replaceChildren(...this.#series.map((track) => legendItem(track)));
    this.#canvas.dataset.tracks = String(this.#series.length);
    this.redraw();
  }

  clear() {
    this.#series = [];
    this.#fallbackDuration = 0;
    this.#legend.replaceChildren();
    this.#canvas.dataset.tracks = "0";
    this.redraw();
  }

  /** The length of the time axis: the video's, once it is known. */
  get duration() {
    const d = this.#video.duration;
    return Number.isFinite(d) && d > 0 ? d : this.#fallbackDuration;
  }

  /** The plot area in canvas pixels. */
  #plot() {
    const ratio = window.devicePixelRatio || 1;
    const left = MARGIN.left * ratio;
    const top = MARGIN.top * ratio;
    return {
      ratio,
      left,
      top,
      width: Math.max(1, this.#canvas.width - left - MARGIN.right * ratio),
      height: Math.max(1, this.#canvas.height - top - MARGIN.bottom * ratio),
    };
  }

  redraw() {
    const canvas = this.#canvas;
    if (!canvas.clientWidth) return; // hidden: drawn when shown (the ResizeObserver calls again)
    fitCanvas(canvas);
    const base = this.#base;
    base.width = canvas.width;
    base.height = canvas.height;
    const ctx = base.getContext("2d");
    const plot = this.#plot();
    ctx.clearRect(0, 0, base.width, base.height);
    drawGrid(ctx, plot, this.duration);
    for (const track of this.#series) drawTrack(ctx, plot, track, this.duration);
    const ratio = plot.ratio;
    Object.assign(canvas.dataset, {
      plotLeft: String(plot.left / ratio),
      plotWidth: String(plot.width / ratio),
      duration: this.duration.toFixed(3),
    });
    canvas.setAttribute("aria-valuemax", this.duration.toFixed(1));
    this.#drawPlayhead(this.#video.currentTime || 0);
  }

  /** While the video plays: the playhead moves with each frame shown (requestVideoFrameCallback, else animation frames). */
  #followFrames() {
    const video = this.#video;
    if (this.#frameRequest) return;
    const step = (now, metadata) => {
      this.#frameRequest = 0;
      // a frame callback that arrives after a pause or during a seek describes an older frame:
      // the player's own time is the truth then
      if (video.paused || video.seeking) {
        this.#drawPlayhead(video.currentTime);
        return;
      }
      this.#drawPlayhead(metadata && Number.isFinite(metadata.mediaTime) ? metadata.mediaTime : video.currentTime);
      if (!video.paused && !video.ended) this.#request(step);
    };
    this.#request(step);
  }

  /** Stop following frames (a pause, a seek): a late callback would draw an older frame's time. */
  #cancelFrames() {
    const video = this.#video;
    if (!this.#frameRequest) return;
    if ("cancelVideoFrameCallback" in video) video.cancelVideoFrameCallback(this.#frameRequest);
    else cancelAnimationFrame(this.#frameRequest);
    this.#frameRequest = 0;
  }

  #request(step) {
    const video = this.#video;
    this.#frameRequest =
      "requestVideoFrameCallback" in video
        ? video.requestVideoFrameCallback(step)
        : requestAnimationFrame(() => step(0, null));
  }

  #drawPlayhead(time) {
    const canvas = this.#canvas;
    if (!canvas.width || !this.#base.width) return;
    const plot = this.#plot();
    const duration = this.duration;
    const t = Math.max(0, Math.min(duration || 0, Number(time) || 0));
    this.#playhead = t;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(this.#base, 0, 0);
    const x = plot.left + (duration > 0 ? t / duration : 0) * plot.width;
    ctx.strokeStyle = cssVar("--fg", "#1b2430");
    ctx.lineWidth = 2 * plot.ratio;
    ctx.beginPath();
    ctx.moveTo(x, plot.top);
    ctx.lineTo(x, plot.top + plot.height);
    ctx.stroke();
    canvas.dataset.playheadS = t.toFixed(3);
    canvas.dataset.playheadX = (x / plot.ratio).toFixed(1);
    canvas.setAttribute("aria-valuenow", t.toFixed(1));
    canvas.setAttribute("aria-valuetext", `${seconds(t)} of ${seconds(duration || 0)}`);
  }

  /** Seek the video to a time (clamped to the video), and move the playhead there at once. */
  seek(time) {
    const t = Math.max(0, Math.min(this.duration, time));
    if (!Number.isFinite(t)) return;
    this.#video.currentTime = t;
    this.#drawPlayhead(t);
  }

  #onClick(event) {
    const rect = this.#canvas.getBoundingClientRect();
    const plotLeft = MARGIN.left;
    const plotWidth = Math.max(1, rect.width - MARGIN.left - MARGIN.right);
    const fraction = (event.clientX - rect.left - plotLeft) / plotWidth;
    this.seek(Math.max(0, Math.min(1, fraction)) * this.duration);
  }

  #onKey(event) {
    const step = event.shiftKey ? 5 * KEY_STEP_S : KEY_STEP_S;
    const moves = {
      ArrowLeft: this.#playhead - step,
      ArrowRight: this.#playhead + step,
      Home: 0,
      End: this.duration,
    };
    if (!(event.key in moves)) return;
    event.preventDefault();
    this.seek(moves[event.key]);
  }
}

function legendItem(track) {
  const item = document.createElement("li");
  item.dataset.track = String(track.track_id);
  const swatch = document.createElement("span");
  swatch.className = "swatch";
  swatch.setAttribute("aria-hidden", "true");
  swatch.style.background = track.color; // CSSOM: allowed by the page's Content-Security-Policy
  item.append(swatch, `Person #${track.track_id}`);
  return item;
}

function drawGrid(ctx, plot, duration) {
  ctx.strokeStyle = cssVar("--chart-grid", "#ddd");
  ctx.fillStyle = cssVar("--chart-text", "#555");
  ctx.lineWidth = plot.ratio;
  ctx.font = `${11 * plot.ratio}px system-ui, sans-serif`;
  ctx.textBaseline = "middle";
  ctx.textAlign = "right";
  for (const [value, label] of [
    [1, "+1"],
    [0.5, ""],
    [0, "0"],
    [-0.5, ""],
    [-1, "−1"],
  ]) {
    const y = Math.round(plot.top + ((1 - value) / 2) * plot.height) + 0.5;
    ctx.lineWidth = (value === 0 ? 2 : 1) * plot.ratio;
    ctx.beginPath();
    ctx.moveTo(plot.left, y);
    ctx.lineTo(plot.left + plot.width, y);
    ctx.stroke();
    if (label) ctx.fillText(label, plot.left - 6 * plot.ratio, y);
  }
  ctx.textBaseline = "top";
  const y = plot.top + plot.height + 6 * plot.ratio;
  for (const [at, align] of [
    [0, "left"],
    [0.5, "center"],
    [1, "right"],
  ]) {
    ctx.textAlign = align;
    ctx.fillText(seconds(at * (duration || 0)), plot.left + at * plot.width, y);
  }
}

function drawTrack(ctx, plot, track, duration) {
  if (!(duration > 0)) return;
  ctx.strokeStyle = track.color;
  ctx.lineWidth = 2 * plot.ratio;
  ctx.lineJoin = "round";
  ctx.lineCap = "round"; // a point on its own shows as a dot
  ctx.beginPath();
  let previous = null;
  track.times.forEach((time, i) => {
    const x = plot.left + Math.min(1, time / duration) * plot.width;
    const y = plot.top + ((1 - track.valence[i]) / 2) * plot.height;
    if (previous === null || time - previous > GAP_S) {
      ctx.moveTo(x, y);
      ctx.lineTo(x + 0.01, y);
    } else ctx.lineTo(x, y);
    previous = time;
  });
  ctx.stroke();
}
