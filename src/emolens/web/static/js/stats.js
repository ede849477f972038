// Live statistics: replies per second, round-trip time, server processing time, dropped frames.

const FPS_WINDOW_MS = 2000;
const SMOOTHING = 0.3; // weight of the newest value in the displayed averages

/** A number shown in an element, with its raw value in data-value for scripts and tests. */
function show(element, value, text) {
  element.dataset.value = value === null ? "" : String(value);
  element.textContent = text;
}

function smooth(previous, value) {
  return previous === null ? value : previous + SMOOTHING * (value - previous);
}

export class LiveStats {
  #elements;
  #replyTimes = [];
  #rtt = null;
  #processing = null;

  /** elements: { fps, rtt, proc, dropped } */
  constructor(elements) {
    this.#elements = elements;
  }

  /** Account for one reply of the server (a result message) and its round trip in ms (or null). */
  update(message, rttMs) {
    const now = performance.now();
    this.#replyTimes.push(now);
    while (this.#replyTimes[0] < now - FPS_WINDOW_MS) this.#replyTimes.shift();
    if (rttMs !== null) this.#rtt = smooth(this.#rtt, rttMs);
    if (typeof message.processing_ms === "number") this.#processing = smooth(this.#processing, message.processing_ms);
    this.#render(message.dropped);
  }

  reset() {
    this.#replyTimes = [];
    this.#rtt = null;
    this.#processing = null;
    for (const element of Object.values(this.#elements)) show(element, null, "–");
  }

  #fps() {
    const times = this.#replyTimes;
    if (times.length < 2) return null;
    return (times.length - 1) / ((times[times.length - 1] - times[0]) / 1000);
  }

  #render(dropped) {
    const fps = this.#fps();
    const elements = this.#elements;
    show(elements.fps, fps === null ? null : fps.toFixed(1), fps === null ? "–" : fps.toFixed(1));
    show(elements.rtt, this.#rtt === null ? null : Math.round(this.#rtt), msText(this.#rtt));
    show(elements.proc, this.#processing === null ? null : Math.round(this.#processing), msText(this.#processing));
    if (typeof dropped === "number") show(elements.dropped, dropped, String(dropped));
  }
}

function msText(value) {
  return value === null ? "–" : `${Math.round(value)} ms`;
}
