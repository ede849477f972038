// The timeline chart: the main face's smoothed emotion scores over the last 20 seconds, on a canvas.

import { EMOTIONS, emotionColor, percent } from "./emotions.js";
import { fitCanvas } from "./ui.js";

const WINDOW_MS = 20000;
const GAP_MS = 1500; // a pause longer than this (no face) breaks the lines
const MARGIN = { left: 40, right: 8, top: 8, bottom: 22 }; // CSS pixels

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export class Timeline {
  #canvas;
  #legend;
  #points = []; // { time, scores }

  /** canvas: the chart; legend: a list whose items have data-emotion and an <output> for the value. */
  constructor(canvas, legend) {
    this.#canvas = canvas;
    this.#legend = legend;
    new ResizeObserver(() => this.draw()).observe(canvas);
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => this.draw());
  }

  /** Add the scores of the main face now (or note that there was none: scores null), then redraw. */
  add(scores, time = performance.now()) {
    if (scores) this.#points.push({ time, scores });
    this.#prune(time);
    this.#updateLegend(scores);
    this.draw(time);
  }

  clear() {
    this.#points = [];
    this.#updateLegend(null);
    this.draw();
  }

  draw(now = performance.now()) {
    fitCanvas(this.#canvas);
    const ctx = this.#canvas.getContext("2d");
    const plot = plotArea(this.#canvas);
    ctx.clearRect(0, 0, this.#canvas.width, this.#canvas.height);
    drawGrid(ctx, plot);
    for (const emotion of EMOTIONS) drawSeries(ctx, plot, this.#points, emotion, now);
    this.#canvas.dataset.points = String(this.#points.length);
  }

  #prune(now) {
    while (this.#points.length && this.#points[0].time < now - WINDOW_MS) this.#points.shift();
  }

  #updateLegend(scores) {
    for (const item of this.#legend.querySelectorAll("[data-emotion]")) {
      const value = scores ? scores[item.dataset.emotion] : undefined;
      item.querySelector("output").textContent = value === undefined ? "–" : percent(value);
    }
    this.#canvas.setAttribute("aria-label", describe(scores));
  }
}

function describe(scores) {
  if (!scores) return "Emotion timeline: no face at the moment";
  const top = EMOTIONS.reduce((a, b) => ((scores[a] || 0) >= (scores[b] || 0) ? a : b));
  return `Emotion timeline: ${top} leads with ${percent(scores[top])}`;
}

/** The plot rectangle in canvas pixels, and the pixel ratio. */
function plotArea(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const left = MARGIN.left * ratio;
  const top = MARGIN.top * ratio;
  return {
    ratio,
    left,
    top,
    width: Math.max(1, canvas.width - left - MARGIN.right * ratio),
    height: Math.max(1, canvas.height - top - MARGIN.bottom * ratio),
  };
}

function drawGrid(ctx, plot) {
  const text = cssVar("--chart-text", "#555");
  ctx.strokeStyle = cssVar("--chart-grid", "#ddd");
  ctx.fillStyle = text;
  ctx.lineWidth = plot.ratio;
  ctx.font = `${11 * plot.ratio}px system-ui, sans-serif`;
  ctx.textBaseline = "middle";
  ctx.textAlign = "right";
  for (const value of [0, 0.25, 0.5, 0.75, 1]) {
    const y = Math.round(plot.top + (1 - value) * plot.height) + 0.5;
    ctx.beginPath();
    ctx.moveTo(plot.left, y);
    ctx.lineTo(plot.left + plot.width, y);
    ctx.stroke();
    if (value % 0.5 === 0) ctx.fillText(percent(value), plot.left - 6 * plot.ratio, y);
  }
  drawTimeAxis(ctx, plot);
}

function drawTimeAxis(ctx, plot) {
  ctx.textBaseline = "top";
  const y = plot.top + plot.height + 6 * plot.ratio;
  const labels = [
    [0, "−20 s", "left"],
    [0.5, "−10 s", "center"],
    [1, "now", "right"],
  ];
  for (const [at, label, align] of labels) {
    ctx.textAlign = align;
    ctx.fillText(label, plot.left + at * plot.width, y);
  }
}

function drawSeries(ctx, plot, points, emotion, now) {
  ctx.strokeStyle = emotionColor(emotion);
  ctx.lineWidth = 2 * plot.ratio;
  ctx.lineJoin = "round";
  ctx.beginPath();
  let previous = null;
  for (const point of points) {
    const x = plot.left + (1 - (now - point.time) / WINDOW_MS) * plot.width;
    const y = plot.top + (1 - (point.scores[emotion] || 0)) * plot.height;
    if (previous === null || point.time - previous > GAP_MS) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
    previous = point.time;
  }
  ctx.stroke();
}
