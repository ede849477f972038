// Small DOM helpers shared by the page's modules.

/** Show a message in an aria-live status element; kind is "info", "ok" or "error". */
export function showStatus(element, text, kind = "info") {
  element.textContent = text;
  element.dataset.kind = kind;
}

/** The message of any thrown value, as one sentence. */
export function messageOf(error) {
  if (error && typeof error.message === "string" && error.message) return error.message;
  return String(error);
}

/** A table row with one cell per value (text only, never HTML). */
export function tableRow(values) {
  const row = document.createElement("tr");
  for (const value of values) {
    const cell = document.createElement("td");
    if (value instanceof Node) cell.append(value);
    else cell.textContent = value;
    row.append(cell);
  }
  return row;
}

/** A coloured dot plus the emotion name, for tables. */
export function emotionChip(label) {
  const chip = document.createElement("span");
  chip.className = "chip";
  chip.dataset.emotion = label;
  chip.textContent = label;
  return chip;
}

/** Keep a canvas's pixel size equal to its displayed size times the device pixel ratio. */
export function fitCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  const changed = canvas.width !== width || canvas.height !== height;
  if (changed) {
    canvas.width = width;
    canvas.height = height;
  }
  return changed;
}
