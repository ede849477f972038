// Draw face boxes and "label 87%" tags on a canvas, scaled from the analysed image's pixels.

import { emotionColor, percent } from "./emotions.js";

/**
 * Draw each face on ctx. Boxes are in source pixels (sourceWidth x sourceHeight); mirror flips the
 * boxes horizontally (for a mirrored camera view) while the text stays readable.
 */
export function drawFaces(ctx, faces, { sourceWidth, sourceHeight, mirror = false }) {
  const scaleX = ctx.canvas.width / sourceWidth;
  const scaleY = ctx.canvas.height / sourceHeight;
  const style = labelStyle(ctx.canvas);
  const boxes = faces.map((face) => toCanvasBox(face.box, scaleX, scaleY, mirror ? ctx.canvas.width : 0));
  faces.forEach((face, i) => drawBox(ctx, boxes[i], emotionColor(face.label), style));
  faces.forEach((face, i) => drawTag(ctx, faceText(face), boxes[i], emotionColor(face.label), style)); // tags on top
}

/** The text drawn next to a face. */
export function faceText(face) {
  return `${face.label} ${percent(face.confidence)}`;
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

function drawTag(ctx, text, [x, y, , h], color, style) {
  ctx.font = `600 ${style.font}px system-ui, sans-serif`;
  const pad = Math.round(style.font * 0.3);
  const width = ctx.measureText(text).width + 2 * pad;
  const height = style.font + 2 * pad;
  const top = y - height >= 0 ? y - height : y + h; // above the box, or below it when there is no room
  const left = Math.min(Math.max(0, x - style.line / 2), ctx.canvas.width - width);
  ctx.fillStyle = color;
  ctx.fillRect(left, top, width, height);
  ctx.fillStyle = textColorOn(color);
  ctx.textBaseline = "middle";
  ctx.fillText(text, left + pad, top + height / 2 + 1);
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
