// The seven emotions, their colours (defined once, in style.css) and the valence score.

export const EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];

const NEGATIVE = ["angry", "disgust", "fear", "sad", "contempt"]; // as emolens.labels.VALENCE_OF
const POSITIVE = ["happy"];
/** A valence at least this far from 0 is called positive or negative; closer, neutral. */
export const VALENCE_THRESHOLD = 0.15;
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
  const sum = (names) => names.reduce((total, name) => total + (scores[name] || 0), 0);
  return Math.max(-1, Math.min(1, sum(POSITIVE) - sum(NEGATIVE)));
}

/**
 * Everything the page shows of one valence score, derived from the one rounded value so that they
 * always agree: value (2 decimals), word (its sign, or neutral near 0), text such as "+0.42",
 * and position (0..1 along the negative-positive bar).
 */
export function valenceReading(score) {
  const value = Math.round(Math.max(-1, Math.min(1, Number(score) || 0)) * 100) / 100;
  let word = "neutral";
  if (value >= VALENCE_THRESHOLD) word = "positive";
  else if (value <= -VALENCE_THRESHOLD) word = "negative";
  const text = `${value < 0 ? "−" : "+"}${Math.abs(value).toFixed(2)}`;
  return { value, word, text, position: (value + 1) / 2 };
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
