// The valence gauge: a marker on a negative-neutral-positive bar, plus the words.

import { valenceScore } from "./emotions.js";

export class ValenceGauge {
  #element;
  #marker;
  #text;

  /** element: the role="meter" container (with a .gauge-marker inside); text: where the words go. */
  constructor(element, text) {
    this.#element = element;
    this.#marker = element.querySelector(".gauge-marker");
    this.#text = text;
  }

  /** Show the valence of a face (Face JSON), or "no face" for null. */
  show(face) {
    if (!face) {
      this.#set(null, "", "No face in view");
      return;
    }
    const score = valenceScore(face.scores);
    const signed = `${score >= 0 ? "+" : "−"}${Math.abs(score).toFixed(2)}`;
    this.#set(score, face.valence, `${face.valence} (${signed}), ${face.label}`);
  }

  #set(score, valence, words) {
    const element = this.#element;
    element.dataset.value = score === null ? "" : score.toFixed(3);
    element.dataset.valence = valence;
    element.classList.toggle("empty", score === null);
    element.setAttribute("aria-valuenow", score === null ? "0" : score.toFixed(2));
    element.setAttribute("aria-valuetext", words);
    // CSSOM, not a style attribute: allowed by the page's Content-Security-Policy.
    if (score !== null) this.#marker.style.left = `${((score + 1) / 2) * 100}%`;
    this.#text.textContent = words;
  }
}
