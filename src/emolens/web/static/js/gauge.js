// The valence gauge: a marker on a negative-neutral-positive bar, the number and the word, all from one value.

import { valenceReading, valenceScore } from "./emotions.js";

export class ValenceGauge {
  #element;
  #marker;
  #text;

  /** element: the role="meter" container (with a .gauge-marker inside); text: where the words go. */
  constructor(element, text) {
    this.#element = element;
    this.#marker = element.querySelector(".gauge-marker");
    this.#text = text;
    this.show(null, "No face yet");
  }

  /** Show the valence of a face (Face JSON), or no reading at all for null. */
  show(face, emptyText = "No face in view") {
    this.showScore(face ? valenceScore(face.scores) : null, emptyText);
  }

  /** Show one valence score in [-1, 1] (null: no reading): marker, number and word come from the same value. */
  showScore(score, emptyText = "No face in view") {
    const element = this.#element;
    const reading = score === null ? null : valenceReading(score);
    element.classList.toggle("empty", reading === null);
    element.dataset.value = reading ? reading.value.toFixed(2) : "";
    element.dataset.valence = reading ? reading.word : "";
    element.dataset.position = reading ? reading.position.toFixed(4) : "";
    element.setAttribute("aria-valuenow", reading ? String(reading.value) : "0");
    const words = reading ? `${reading.word} ${reading.text}` : emptyText;
    element.setAttribute("aria-valuetext", words);
    // No transition: the marker is where the number says, at once. CSSOM, allowed by the page's CSP.
    if (reading) this.#marker.style.left = `${reading.position * 100}%`;
    this.#text.textContent = words;
  }
}
