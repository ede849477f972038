// A video analysis job: upload with progress, poll the server every 0.5 s, then the annotated video in a
// player, each person's valence over time in a chart beneath it (synchronised both ways), and the per-track summary.

import { deleteResource, getJson, postFileWithProgress, withToken } from "./api.js";
import { percent } from "./emotions.js";
import { TrackChart, trackColor } from "./trackchart.js";
import { emotionChip, messageOf, showStatus, tableRow } from "./ui.js";

const POLL_MS = 500;
const MAX_POLL_FAILURES = 5;
const ACTIVE = new Set(["queued", "running"]);

function stem(name) {
  return name.replace(/\.[^.]*$/, "") || "video";
}

function seconds(value) {
  return `${Number(value || 0).toFixed(1)} s`;
}

export class VideoJobView {
  #els;
  #status;
  #job = null;
  #name = "";
  #timer = 0;
  #failures = 0;
  #sequence = 0; // every start() and discard() takes the next number: an older upload's answer is then stale
  #upload = null; // the upload in flight: { controller (its AbortController), sent (all its bytes are out) }
  #chart;

  /** els: { section, progress, progressLabel, deleteButton, summary, tracksBody, csvLink, mp4Link, expires,
   *  player (a <video>), playerNote, chart (a canvas), chartLegend, voice (a checkbox: hear the sound too),
   *  voiceSummary } */
  constructor(els, status) {
    this.#els = els;
    this.#status = status;
    this.#chart = new TrackChart(els.chart, els.chartLegend, els.player);
    els.deleteButton.addEventListener("click", () => this.remove());
    els.player.addEventListener("error", () => {
      if (!els.player.getAttribute("src")) return;
      els.playerNote.hidden = false;
      els.playerNote.textContent = "This browser cannot play the annotated video; download it below.";
    });
  }

  /** Upload a video file and follow its analysis; a newer start() or discard() makes this one stale. */
  async start(file) {
    const previous = this.#forget();
    const sequence = this.#sequence; // taken at once: another start() may come while the old job is deleted
    this.#name = file.name;
    this.#showSection();
    this.#setProgress(0, `Uploading ${file.name}: 0%`);
    showStatus(this.#status, `Uploading ${file.name}…`);
    await cancelJob(previous);
    if (sequence !== this.#sequence) return;
    const upload = { controller: new AbortController(), sent: false };
    this.#upload = upload;
    try {
      const job = await postFileWithProgress(
        this.#els.voice.checked ? "api/v1/videos?voice=true" : "api/v1/videos",
        file,
        (fraction) => this.#uploadProgress(sequence, upload, file.name, fraction),
        { signal: upload.controller.signal },
      );
      this.#uploaded(sequence, job);
    } catch (error) {
      if (sequence === this.#sequence) this.#fail(`${file.name}: ${messageOf(error)}`);
    }
  }

  /** Hide the view, aborting an upload and cancelling (deleting) a job still in progress; used before another file. */
  async discard() {
    await cancelJob(this.#forget());
  }

  /** Stop following the current upload or job (their late answers are ignored from now on); the job left. */
  #forget() {
    this.#sequence += 1;
    clearTimeout(this.#timer);
    this.#abortUpload();
    const job = this.#job;
    this.#job = null;
    this.#els.section.hidden = true;
    this.#unloadPlayer();
    return job;
  }

  #abortUpload() {
    const upload = this.#upload;
    this.#upload = null;
    // Once every byte is sent the server may already hold the job: let the answer come, and delete it then.
    if (upload && !upload.sent) upload.controller.abort();
  }

  #uploadProgress(sequence, upload, name, fraction) {
    if (fraction >= 1) upload.sent = true;
    if (sequence === this.#sequence) this.#setProgress(fraction, `Uploading ${name}: ${percent(fraction)}`);
  }

  #uploaded(sequence, job) {
    if (sequence !== this.#sequence) {
      cancelJob(job, true); // another file was chosen meanwhile: nobody will follow this job
      return;
    }
    this.#upload = null;
    this.#job = job;
    showStatus(this.#status, `${this.#name} uploaded; the server is analysing it.`);
    this.#render(job);
  }

  /** The Cancel / Delete button: delete the job and its files on the server. */
  async remove() {
    const job = this.#job;
    if (!job || job.status === "deleting" || job.status === "deleted") return;
    const cancelling = ACTIVE.has(job.status);
    // From now on the job being followed is this "deleting" one: a poll already on its way (or one
    // its answer would schedule) finds another job than the one it asked about, and is ignored.
    const deleting = { ...job, status: "deleting" };
    this.#job = deleting;
    clearTimeout(this.#timer);
    this.#els.deleteButton.disabled = true;
    try {
      await deleteResource(`api/v1/videos/${job.id}`);
      if (this.#job !== deleting) return; // another file was chosen meanwhile
      this.#job = { ...job, status: "deleted" };
      this.#render(this.#job);
      showStatus(this.#status, cancelling ? "Analysis cancelled." : "The video and its results were deleted from the server.");
    } catch (error) {
      if (this.#job !== deleting) return;
      this.#job = job; // still there: follow it again
      this.#render(job);
      showStatus(this.#status, `Could not delete: ${messageOf(error)}`, "error");
    } finally {
      this.#els.deleteButton.disabled = false;
    }
  }

  #showSection() {
    const els = this.#els;
    els.section.hidden = false;
    els.summary.hidden = true;
    els.deleteButton.hidden = true;
    els.section.dataset.status = "uploading";
    els.tracksBody.replaceChildren();
    els.voiceSummary.hidden = true;
    this.#unloadPlayer();
  }

  /** Stop the player and let go of its file; empty the chart. */
  #unloadPlayer() {
    const { player, playerNote } = this.#els;
    if (player.getAttribute("src")) {
      player.pause();
      player.removeAttribute("src");
      player.load();
    }
    playerNote.hidden = true;
    this.#chart.clear();
  }

  #setProgress(value, label) {
    this.#els.progress.value = value;
    this.#els.progressLabel.textContent = label;
  }

  #schedulePoll() {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#poll(), POLL_MS);
  }

  async #poll() {
    const job = this.#job;
    if (!job || !ACTIVE.has(job.status)) return;
    try {
      const fresh = await getJson(`api/v1/videos/${job.id}`);
      if (this.#job !== job) return; // replaced meanwhile
      this.#failures = 0;
      this.#job = fresh;
      this.#render(fresh);
    } catch (error) {
      this.#pollFailed(job, error);
    }
  }

  #pollFailed(job, error) {
    if (this.#job !== job) return;
    this.#failures += 1;
    if (error.status === 404) this.#fail("This video is no longer on the server (it expired or was deleted).");
    else if (error.status === 401 || this.#failures >= MAX_POLL_FAILURES) this.#fail(messageOf(error));
    else this.#schedulePoll();
  }

  #render(job) {
    const els = this.#els;
    clearTimeout(this.#timer); // at most one poll scheduled, and none once the job has ended
    els.section.dataset.status = job.status;
    els.deleteButton.hidden = job.status === "deleted";
    els.deleteButton.textContent = ACTIVE.has(job.status) ? "Cancel" : "Delete from server";
    if (job.status === "queued") this.#setProgress(0, "Queued: waiting for the analyser…");
    else if (job.status === "running") this.#setProgress(job.progress || 0, runningText(job));
    else if (job.status === "done") this.#done(job);
    else if (job.status === "failed") this.#fail(`${this.#name}: ${job.error || "the analysis failed"}`);
    else if (job.status === "deleted") this.#deleted();
    if (ACTIVE.has(job.status)) this.#schedulePoll();
  }

  /** What the sound said, for a job that heard it: the voice's emotion and its windows, or why there was none. */
  #renderVoice(voice) {
    const el = this.#els.voiceSummary;
    el.hidden = !voice;
    if (!voice) return;
    if (!voice.available) {
      el.dataset.state = "off";
      el.textContent = `Voice: not heard (${voice.reason}).`;
      return;
    }
    const shares = Object.entries(voice.share || {}).sort((a, b) => b[1] - a[1]);
    const main = voice.speech_windows > 0 && shares.length ? `mostly ${shares[0][0]} (${Math.round(100 * shares[0][1])}% of speech)` : "no speech";
    el.dataset.state = "on";
    el.textContent =
      `Voice: ${main}; ${voice.windows} windows: ${voice.speech_windows} speech, ${voice.music_windows} music, ` +
      `${voice.silence_windows} silence, ${voice.non_speech_windows} other sound. The CSV holds the voice and fused columns.`;
  }

  #done(job) {
    const summary = job.summary || { tracks: [], frames: job.frames_done };
    const people = summary.tracks.length;
    this.#setProgress(1, `Done: ${summary.frames} frames, ${people} ${people === 1 ? "person" : "people"} tracked.`);
    this.#renderTracks(summary.tracks, job.hint);
    this.#renderVoice(summary.voice);
    this.#setLinks(job);
    this.#els.summary.hidden = false;
    showStatus(this.#status, `${this.#name}: analysis done.`, "ok");
    this.#showPlayer(job, summary);
  }

  /** The annotated video in the player (served with range requests: it can seek), and its chart. */
  async #showPlayer(job, summary) {
    const links = job.links || {};
    if (!links.annotated_mp4) return;
    this.#els.player.src = withToken(links.annotated_mp4);
    if (!links.timeline) return;
    try {
      const timeline = await getJson(links.timeline);
      if (this.#job !== job) return; // replaced or deleted meanwhile
      this.#chart.show(timeline, summary.tracks, job.duration_s);
    } catch (error) {
      if (this.#job === job) showStatus(this.#status, `${this.#name}: the chart is missing: ${messageOf(error)}`, "error");
    }
  }

  #renderTracks(tracks, hint) {
    const rows = tracks.map((t, i) =>
      tableRow([
        trackName(t, i),
        mainEmotion(t),
        t.dominant_valence || "–",
        `${Number(t.first_s || 0).toFixed(1)}–${seconds(t.last_s)}`,
        String(t.frames),
      ]),
    );
    if (!rows.length) rows.push(emptyRow(hint ? `No face found: ${hint.replace(/^no face found: /, "")}.` : "No face found in the video."));
    this.#els.tracksBody.replaceChildren(...rows);
  }

  #setLinks(job) {
    const links = job.links || {};
    const base = stem(this.#name);
    setLink(this.#els.csvLink, links.frames_csv, `${base}-frames.csv`);
    setLink(this.#els.mp4Link, links.annotated_mp4, `${base}-annotated.mp4`);
    const minutes = Math.round((job.expires_in_s || 0) / 60);
    this.#els.expires.textContent = job.expires_in_s
      ? `The server keeps these files for about ${minutes} more minute${minutes === 1 ? "" : "s"}.`
      : "";
  }

  #deleted() {
    this.#setProgress(0, "Deleted from the server.");
    this.#els.summary.hidden = true;
    this.#unloadPlayer();
  }

  #fail(message) {
    clearTimeout(this.#timer);
    this.#els.section.dataset.status = "failed";
    this.#setProgress(0, "Failed.");
    showStatus(this.#status, message, "error");
  }
}

/** Delete a job on the server, quietly: one still queued or running, or any job when `always`. */
async function cancelJob(job, always = false) {
  if (!job || !(always || ACTIVE.has(job.status))) return;
  await deleteResource(`api/v1/videos/${job.id}`).catch(() => undefined);
}

/** "#2" with the track's colour, as in the chart and on its boxes in the video. */
function trackName(track, index) {
  const wrap = document.createElement("span");
  const swatch = document.createElement("span");
  swatch.className = "swatch";
  swatch.setAttribute("aria-hidden", "true");
  swatch.style.background = trackColor(track, index); // CSSOM: allowed by the page's Content-Security-Policy
  wrap.append(swatch, ` #${track.track_id}`);
  return wrap;
}

function emptyRow(text) {
  const row = tableRow([text]);
  row.className = "empty";
  row.cells[0].colSpan = 5;
  return row;
}

function runningText(job) {
  const total = job.frames_total ? ` of ${job.frames_total}` : "";
  return `Analysing: frame ${job.frames_done || 0}${total} (${percent(job.progress || 0)})`;
}

function mainEmotion(track) {
  const wrap = document.createElement("span");
  const share = track.share && track.dominant in track.share ? ` ${percent(track.share[track.dominant])} of frames` : "";
  wrap.append(emotionChip(track.dominant), share);
  return wrap;
}

function setLink(anchor, href, filename) {
  anchor.hidden = !href;
  if (!href) return;
  anchor.href = withToken(href);
  anchor.download = filename;
}
