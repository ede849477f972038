// The "Events" card: the newest emotion events of the live stream (who came, who left, whose emotion changed).

const KEEP = 20;

const TEXT = {
  person_entered: (e) => `came into view, ${e.label}`,
  person_left: (e) => `left after ${e.duration_s.toFixed(1)} s`,
  emotion_changed: (e) => `${e.previous} → ${e.label}`,
  emotion_sustained: (e) => `${e.label} for ${e.duration_s.toFixed(1)} s`,
  valence_changed: (e) => `valence ${e.previous} → ${e.label}`,
  voice_emotion_changed: (e) => `voice: ${e.label}`,
  stress_changed: (e) => `stress ${e.label}`,
};

/** One event as a sentence: "3.2 s · person 1 · neutral → happy". */
export function eventText(e) {
  const who = e.track_id === null ? "" : `person ${e.track_id} · `;
  const what = (TEXT[e.kind] || (() => e.kind))(e);
  return `${e.time.toFixed(1)} s · ${who}${what}`;
}

export class EventList {
  #list;

  constructor(list) {
    this.#list = list;
  }

  /** Put the events of one live result on top of the list (newest first, at most KEEP). */
  add(events) {
    for (const e of events) {
      const item = document.createElement("li");
      item.dataset.kind = e.kind;
      item.textContent = eventText(e);
      this.#list.prepend(item);
    }
    while (this.#list.children.length > KEEP) this.#list.lastElementChild.remove();
    this.#list.dataset.count = String(Number(this.#list.dataset.count || 0) + events.length);
  }

  clear() {
    this.#list.replaceChildren();
    this.#list.dataset.count = "0";
  }
}
