// Draw face boxes and "1 happy 87%" tags on a canvas, scaled from the analysed image's pixels.
// Tags never cover each other: each goes above, below or inside its box, shortened to its number
// when the full text has no room, and pushed down past the others as a last resort.

import { emotionColor, percent } from "./emotions.js";

/** The faces ordered left to right, each with its number (the server's face.number, else its place from the left). */
export function numberedFaces(faces) {
  const ordered = [...faces].sort((a, b) => (a.number ?? Infinity) - (b.number ?? Infinity) || a.box[0] - b.box[0]);
  return ordered.map((face, i) => ({ ...face, number: face.number ?? i + 1 }));
}

/**
 * Draw each face on ctx. Boxes are in source pixels (sourceWidth x sourceHeight); mirror flips the
 * boxes horizontally (for a mirrored camera view) while the text stays readable. Returns the tags
 * as drawn, [{ number, text, x, y, width, height }] in canvas pixels, also kept in the canvas's
 * data-tags attribute.
 */
export function drawFaces(ctx, faces, { sourceWidth, sourceHeight, mirror = false }) {
  const scaleX = ctx.canvas.width / sourceWidth;
  const scaleY = ctx.canvas.height / sourceHeight;
  const style = labelStyle(ctx.canvas);
  const numbered = numberedFaces(faces);
  const boxes = numbered.map((face) => toCanvasBox(face.box, scaleX, scaleY, mirror ? ctx.canvas.width : 0));
  numbered.forEach((face, i) => drawBox(ctx, boxes[i], emotionColor(face.label), style));
  ctx.font = `600 ${style.font}px system-ui, sans-serif`;
  const tags = placeTags(ctx, numbered, boxes, style);
  tags.forEach((tag, i) => drawTag(ctx, tag, emotionColor(numbered[i].label), style)); // tags on top
  ctx.canvas.dataset.tags = JSON.stringify(tags.map(({ number, text, x, y, width, height }) => ({ number, text, x, y, width, height })));
  return tags;
}

/** The text drawn next to a face. */
export function faceText(face) {
  const number = face.number ?? "";
  return `${number} ${face.label} ${percent(face.confidence)}`.trim();
}

function toCanvasBox([x, y, w, h], scaleX, scaleY, mirrorWidth) {
  const left = mirrorWidth ? mirrorWidth - (x + w) * scaleX : x * scaleX;
  return [left, y * scaleY, w * scaleX, h * scaleY];
}

/** Tag font and line width in canvas pixels: readable on screen (>= 11 CSS px), growing with the canvas. */
function labelStyle(canvas) {
  const cssPixel = canvas.clientWidth ? canvas.width / canvas.clientWidth : 1;
  const base = Math.min(canvas.width, canvas.height);
  return {
    font: Math.round(Math.max(11 * cssPixel, Math.min(base / 22, 20 * cssPixel))),
    line: Math.max(2 * cssPixel, Math.round(base / 240)),
  };
}

function drawBox(ctx, [x, y, w, h], color, style) {
  ctx.lineWidth = style.line;
  ctx.strokeStyle = color;
  ctx.strokeRect(x, y, w, h);
}

function overlaps(a, b) {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/** Where each tag goes: the first free spot for the full text, then for the number alone, else pushed down. */
function placeTags(ctx, faces, boxes, style) {
  const pad = Math.round(style.font * 0.3);
  const height = style.font + 2 * pad;
  const canvas = ctx.canvas;
  const placed = [];
  faces.forEach((face, i) => {
    const [x, y, w, h] = boxes[i];
    const spots = (width) => {
      const left = Math.min(Math.max(0, x - style.line / 2), canvas.width - width);
      const right = Math.min(Math.max(0, x + w - width), canvas.width - width);
      return [
        [left, y - height],
        [left, y + h],
        [left, y],
        [right, y - height],
        [right, y + h],
      ];
    };
    let tag = null;
    for (const text of [faceText(face), String(face.number)]) {
      const width = ctx.measureText(text).width + 2 * pad;
      for (const [left, top] of spots(width)) {
        const candidate = { number: face.number, text, x: left, y: top, width, height, pad };
        const inside = top >= 0 && top + height <= canvas.height;
        if (inside && !placed.some((other) => overlaps(candidate, other))) {
          tag = candidate;
          break;
        }
      }
      if (tag) break;
    }
    if (!tag) tag = pushedDown(ctx, face, placed, x, Math.max(0, y - height), height, pad);
    placed.push(tag);
  });
  return placed;
}

/** The number alone, moved down (then up from the top) until it covers no other tag; on top of one if the canvas is full. */
function pushedDown(ctx, face, placed, x, top, height, pad) {
  const text = String(face.number);
  const width = ctx.measureText(text).width + 2 * pad;
  const left = Math.min(Math.max(0, x), ctx.canvas.width - width);
  const starts = [top, 0];
  for (const start of starts) {
    for (let y = start; y + height <= ctx.canvas.height; y += 1) {
      const candidate = { number: face.number, text, x: left, y, width, height, pad };
      if (!placed.some((other) => overlaps(candidate, other))) return candidate;
    }
  }
  return { number: face.number, text, x: left, y: top, width, height, pad };
}

function drawTag(ctx, tag, color, style) {
  ctx.font = `600 ${style.font}px system-ui, sans-serif`;
  ctx.fillStyle = color;
  ctx.fillRect(tag.x, tag.y, tag.width, tag.height);
  ctx.fillStyle = textColorOn(color);
  ctx.textBaseline = "middle";
  ctx.fillText(tag.text, tag.x + tag.pad, tag.y + tag.height / 2 + 1);
}

/** Black or white, whichever reads better on a #rrggbb background. */
function textColorOn(hex) {
  const match = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!match) return "#000000";
  const [r, g, b] = match.slice(1).map((part) => linear(parseInt(part, 16) / 255));
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) ? "#000000" : "#ffffff";
}

function linear(c) {
  return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}
