// The seven emotions, their colours (defined once, in style.css) and the valence score.

export const EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];

const NEGATIVE = ["angry", "disgust", "fear", "sad"];
const colorCache = new Map();

/** The colour of an emotion: the CSS custom property --emo-<name> of the page. */
export function emotionColor(label) {
  if (!colorCache.has(label)) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(`--emo-${label}`).trim();
    colorCache.set(label, value || "#888888");
  }
  return colorCache.get(label);
}

/** A number in [-1, 1]: P(happy) minus the summed probability of the negative emotions. */
export function valenceScore(scores) {
  const negative = NEGATIVE.reduce((sum, name) => sum + (scores[name] || 0), 0);
  return (scores.happy || 0) - negative;
}

/** The largest face (by box area), or null. */
export function mainFace(faces) {
  let best = null;
  for (const face of faces) {
    if (!best || area(face.box) > area(best.box)) best = face;
  }
  return best;
}

function area(box) {
  return box[2] * box[3];
}

export function percent(p) {
  return `${Math.round(p * 100)}%`;
}
