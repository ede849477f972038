// "Analyse a file": pick or drop an image, a video or a recording; images and recordings are analysed
// at once, videos as a job.

import { postFile } from "./api.js";
import { percent } from "./emotions.js";
import { drawFaces, numberedFaces } from "./overlay.js";
import { emotionChip, messageOf, showStatus, tableRow } from "./ui.js";

const VIDEO_EXTENSIONS = /\.(mp4|m4v|mov|avi|mkv|webm)$/i;
const AUDIO_EXTENSIONS = /\.(wav|flac|ogg|oga|opus|mp3|aiff?|m4a)$/i;
const MAX_CANVAS_SIDE = 1600; // the preview is drawn at most this large
const MIB = 1024 * 1024;

/** "video", "audio" or "image", from the browser's type or else the file name (the server checks the bytes). */
export function kindOf(file) {
  if (file.type.startsWith("video/")) return "video";
  if (file.type.startsWith("audio/")) return "audio";
  if (file.type.startsWith("image/")) return "image";
  if (VIDEO_EXTENSIONS.test(file.name)) return "video";
  return AUDIO_EXTENSIONS.test(file.name) ? "audio" : "image";
}

/** Decode an image file for the preview; null when this browser cannot (the table still shows). */
async function decodeImage(file) {
  try {
    return await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    return null;
  }
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function megabytes(bytes) {
  return `${(bytes / MIB).toFixed(bytes < 10 * MIB ? 1 : 0)} MB`;
}

export class FileAnalyser {
  #els;
  #videoJob;
  #maxBytes = Infinity; // from the server's health answer, when it says
  #sequence = 0; // the newest request wins when files are chosen quickly one after another

  /** els: { input, dropzone, status, imageSection, imageCanvas, facesBody, audioSection, audioSummary,
   * audioBody }; videoJob: a VideoJobView. */
  constructor(els, videoJob) {
    this.#els = els;
    this.#videoJob = videoJob;
    els.input.addEventListener("change", () => this.#onPicked());
    this.#listenForDrops(els.dropzone);
  }

  /** The server's limits (GET /api/v1/health `limits`): a file over max_upload_mb is refused before uploading. */
  setLimits(limits) {
    if (limits && limits.max_upload_mb > 0) this.#maxBytes = limits.max_upload_mb * MIB;
  }

  /** Analyse one File (from the picker, a drop, or a sample). */
  async analyse(file) {
    const sequence = ++this.#sequence;
    this.#els.imageSection.hidden = true;
    this.#els.audioSection.hidden = true;
    if (file.size > this.#maxBytes) {
      const limit = megabytes(this.#maxBytes);
      showStatus(this.#els.status, `${file.name} is ${megabytes(file.size)}; this server accepts at most ${limit}.`, "error");
      return;
    }
    if (kindOf(file) === "video") {
      await this.#videoJob.start(file);
      return;
    }
    await this.#videoJob.discard(); // aborts a video still uploading, cancels one being analysed
    if (sequence !== this.#sequence) return;
    if (kindOf(file) === "audio") await this.#analyseRecording(file, sequence);
    else await this.#analyseImage(file, sequence);
  }

  #onPicked() {
    const file = this.#els.input.files[0];
    this.#els.input.value = ""; // choosing the same file again fires "change" again
    if (file) this.analyse(file);
  }

  #listenForDrops(zone) {
    const over = (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    };
    zone.addEventListener("dragenter", over);
    zone.addEventListener("dragover", over);
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      const file = event.dataTransfer.files[0];
      if (file) this.analyse(file);
    });
    // A file dropped next to the zone must not make the browser leave the page.
    window.addEventListener("dragover", (event) => event.preventDefault());
    window.addEventListener("drop", (event) => event.preventDefault());
  }

  async #analyseImage(file, sequence) {
    showStatus(this.#els.status, `Analysing ${file.name}…`);
    try {
      const [result, bitmap] = await Promise.all([postFile("api/v1/analyze", file), decodeImage(file)]);
      if (sequence !== this.#sequence) return;
      this.#showImage(result, bitmap);
      const time = typeof result.processing_ms === "number" ? `, ${Math.round(result.processing_ms)} ms on the server` : "";
      const hint = result.faces.length === 0 && result.hint ? ` ${capitalised(result.hint)}.` : "";
      showStatus(this.#els.status, `${file.name}: ${plural(result.faces.length, "face")} (${result.width}×${result.height}${time}).${hint}`, "ok");
    } catch (error) {
      if (sequence === this.#sequence) showStatus(this.#els.status, `${file.name}: ${messageOf(error)}`, "error");
    }
  }

  async #analyseRecording(file, sequence) {
    showStatus(this.#els.status, `Listening to ${file.name}…`);
    try {
      const result = await postFile("api/v1/audio", file);
      if (sequence !== this.#sequence) return;
      this.#showRecording(result);
      const found = result.emotion ? `the voice sounds ${result.emotion}` : "no speech heard";
      showStatus(this.#els.status, `${file.name}: ${seconds(result.duration_s)}, ${found}.`, "ok");
    } catch (error) {
      if (sequence === this.#sequence) showStatus(this.#els.status, `${file.name}: ${messageOf(error)}`, "error");
    }
  }

  #showRecording(result) {
    const { audioSection, audioSummary, audioBody } = this.#els;
    audioSection.hidden = false;
    audioSummary.textContent = windowCounts(result);
    if (!result.emotion) {
      const row = tableRow(["No speech: no window was given an emotion."]);
      row.className = "empty";
      row.cells[0].colSpan = 3;
      audioBody.replaceChildren(row);
      return;
    }
    const labels = [...result.labels].sort((a, b) => result.mean_probs[b] - result.mean_probs[a]);
    audioBody.replaceChildren(
      ...labels.map((label) => {
        const row = tableRow([emotionChip(label), percent(result.share[label]), percent(result.mean_probs[label])]);
        row.dataset.emotion = label;
        return row;
      }),
    );
  }

  #showImage(result, bitmap) {
    const { imageSection, imageCanvas, facesBody } = this.#els;
    imageSection.hidden = false;
    imageCanvas.hidden = !bitmap;
    if (bitmap) drawImageWithFaces(imageCanvas, bitmap, result); // after showing it: labels scale to its size
    imageCanvas.setAttribute("aria-label", `The image with ${plural(result.faces.length, "face")} marked`);
    facesBody.replaceChildren(...faceRows(result.faces));
  }
}

function seconds(s) {
  return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
}

/** "12 windows of 2 s every 0.5 s: 9 speech, 2 silence, 1 music" (kinds without a window left out). */
function windowCounts(result) {
  const kinds = [
    [result.speech_windows, "speech"],
    [result.silence_windows, "silence"],
    [result.music_windows, "music"],
    [result.non_speech_windows, "other sound"],
  ].filter(([n]) => n > 0);
  const parts = kinds.map(([n, word]) => `${n} ${word}`).join(", ");
  return `${plural(result.windows, "window")} of ${result.window_s} s every ${result.hop_s} s: ${parts || "none"}.`;
}

function capitalised(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function drawImageWithFaces(canvas, bitmap, result) {
  const scale = Math.min(1, MAX_CANVAS_SIDE / Math.max(bitmap.width, bitmap.height));
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  drawFaces(ctx, result.faces, { sourceWidth: result.width, sourceHeight: result.height });
}

function emptyRow(text) {
  const row = tableRow([text]);
  row.className = "empty";
  row.cells[0].colSpan = 5;
  return row;
}

/** One row per face, left to right, numbered as on the picture (what to try instead goes in the status). */
function faceRows(faces) {
  if (!faces.length) return [emptyRow("No face found.")];
  return numberedFaces(faces).map((face) => {
    const row = tableRow([String(face.number), emotionChip(face.label), percent(face.confidence), face.valence, face.box.join(", ")]);
    row.dataset.number = String(face.number);
    return row;
  });
}
