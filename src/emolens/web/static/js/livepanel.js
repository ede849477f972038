// The "Live camera" card: Start/Stop, the overlay on the video, the statistics, and feeding the chart and gauge.

import { mainFace } from "./emotions.js";
import { EventList } from "./events.js";
import { LiveSession } from "./live.js";
import { drawFaces, faceText } from "./overlay.js";
import { LiveStats } from "./stats.js";
import { fitCanvas, messageOf, showStatus } from "./ui.js";

const ON_TEXT = "Camera on: analysing live.";
const EARS_ONLY_TEXT = "No camera: listening to the microphone alone.";

/** Draw one live result on the overlay and record it in the overlay's data attributes. */
function drawLiveOverlay(overlay, message, mirror) {
  fitCanvas(overlay);
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  drawFaces(ctx, message.faces, { sourceWidth: message.width, sourceHeight: message.height, mirror });
  overlay.dataset.faces = String(message.faces.length);
  overlay.dataset.frames = String(Number(overlay.dataset.frames || 0) + 1);
  const names = message.faces.map(faceText).join(", ");
  overlay.setAttribute("aria-label", `Detected faces: ${message.faces.length ? names : "none"}`);
}

function clearOverlay(overlay) {
  overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
  overlay.dataset.faces = "0";
}

export class LivePanel {
  #els;
  #timeline;
  #gauge;
  #stats;
  #events;
  #session;
  #showingFrameError = false;

  /** els: { video, overlay, stage, status, start, stop, mirror, listen, fps, rtt, proc, dropped, events, voiceText, fusedText } */
  constructor(els, timeline, gauge) {
    this.#els = els;
    this.#timeline = timeline;
    this.#gauge = gauge;
    this.#stats = new LiveStats({ fps: els.fps, rtt: els.rtt, proc: els.proc, dropped: els.dropped });
    this.#events = new EventList(els.events);
    this.#session = new LiveSession(els.video, {
      onResult: (message, rtt) => this.#onResult(message, rtt),
      onFrameError: (detail) => this.#onFrameError(detail),
      onVoice: (message) => this.#onVoice(message),
      onEnded: (message, kind) => this.#showStopped(message, kind),
    });
    els.start.addEventListener("click", () => this.#start());
    els.stop.addEventListener("click", () => this.#stop());
    els.mirror.addEventListener("change", () => els.stage.classList.toggle("mirrored", els.mirror.checked));
    window.addEventListener("pagehide", () => this.#session.stop());
  }

  async #start() {
    const { stage, status, video } = this.#els;
    this.#setState("starting");
    showStatus(status, "Starting the camera…");
    this.#stats.reset();
    this.#timeline.clear();
    this.#events.clear();
    this.#showVoice("off", "", "–", "");
    try {
      await this.#session.start(this.#els.listen.checked);
    } catch (error) {
      this.#setState("off");
      showStatus(status, messageOf(error), "error");
      return;
    }
    this.#setState("on");
    if (!this.#session.seeing) {
      showStatus(status, EARS_ONLY_TEXT, "ok");
      this.#showVoice("listening", "", "listening…", "");
      return;
    }
    stage.style.aspectRatio = `${video.videoWidth} / ${video.videoHeight}`; // CSSOM: allowed by the CSP
    showStatus(status, ON_TEXT, "ok");
    if (this.#els.listen.checked) {
      if (this.#session.listening) this.#showVoice("listening", "", "listening…", "");
      else this.#showVoice("off", "", "no microphone: the face alone", "");
    }
  }

  #stop() {
    const seeing = this.#session.seeing;
    this.#session.stop();
    this.#showStopped(seeing ? "Camera off." : "Microphone off.", "info");
  }

  /** The timeline keeps its last 20 s for a look back; the live numbers and the gauge go blank. */
  #showStopped(message, kind) {
    this.#setState("off");
    clearOverlay(this.#els.overlay);
    this.#stats.reset();
    this.#gauge.show(null);
    showStatus(this.#els.status, message, kind);
  }

  #onResult(message, rtt) {
    this.#stats.update(message, rtt);
    drawLiveOverlay(this.#els.overlay, message, this.#els.mirror.checked);
    const main = mainFace(message.faces);
    this.#timeline.add(main ? main.scores : null);
    this.#gauge.show(main);
    this.#events.add(message.events || []);
    this.#showBody(message.body);
    if (this.#showingFrameError) showStatus(this.#els.status, ON_TEXT, "ok");
    this.#showingFrameError = false;
  }

  /** A judgement of the microphone's last seconds: the voice's emotion, or silence, and the fusion. */
  #onVoice(message) {
    if (message.error) {
      this.#showVoice("error", "", message.error, "");
      return;
    }
    const voice = message.probs ? `${message.label} ${Math.round(100 * message.probs[message.label])}%` : message.label;
    const fused = message.fused ? `${message.fused.label} ${Math.round(100 * message.fused.probs[message.fused.label])}%` : "–";
    this.#showVoice("on", message.label, voice, message.fused ? message.fused.label : "", fused);
    this.#events.add(message.events || []);
  }

  /** The wristband's stress beside the face's valence: "stress 23% · arousal 0.48", or why not. */
  #showBody(body) {
    const el = this.#els.bodyText;
    if (!body) {
      el.dataset.state = "off";
      el.dataset.stress = "";
      el.textContent = "no wristband";
      return;
    }
    el.dataset.state = body.fresh ? "on" : "stale";
    el.dataset.stress = body.stress.toFixed(3);
    const arousal = body.arousal === null ? "" : ` · arousal ${body.arousal.toFixed(2)}`;
    el.textContent = `stress ${Math.round(100 * body.stress)}%${arousal}${body.fresh ? "" : " (stale)"}`;
  }

  #showVoice(state, label, text, fusedLabel, fusedText = "–") {
    const { voiceText, fusedText: fusedEl } = this.#els;
    voiceText.dataset.state = state;
    voiceText.dataset.label = label;
    voiceText.textContent = text;
    fusedEl.dataset.label = fusedLabel;
    fusedEl.textContent = fusedText;
  }

  #onFrameError(detail) {
    this.#showingFrameError = true;
    showStatus(this.#els.status, `The server could not analyse a frame: ${detail}`, "error");
  }

  /** off | starting | on: the buttons follow, and keyboard focus moves to the one that can be used. */
  #setState(state) {
    const { stage, start, stop } = this.#els;
    stage.dataset.state = state;
    start.disabled = state !== "off";
    stop.disabled = state !== "on";
    const [from, to] = state === "on" ? [start, stop] : [stop, start];
    if (document.activeElement === from || document.activeElement === document.body) to.focus();
  }
}
