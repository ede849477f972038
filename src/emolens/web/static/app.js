// The emolens page: wires the live camera, the chart, the gauge and the file analysis together.

import { getJson } from "./js/api.js";
import { Timeline } from "./js/chart.js";
import { ValenceGauge } from "./js/gauge.js";
import { LivePanel } from "./js/livepanel.js";
import { loadSamples } from "./js/samples.js";
import { messageOf, showStatus } from "./js/ui.js";
import { FileAnalyser } from "./js/upload.js";
import { VideoJobView } from "./js/videojob.js";

const $ = (id) => document.getElementById(id);

/** Server version and model under the title, and its upload limit; a missing or wrong token is reported. */
async function showServerInfo(analyser) {
  try {
    const health = await getJson("api/v1/health");
    $("server-info").textContent = `emolens ${health.version} · model ${health.model} · detector ${health.detector}`;
    analyser.setLimits(health.limits);
  } catch (error) {
    showStatus($("status"), messageOf(error), "error");
    showStatus($("upload-status"), messageOf(error), "error");
  }
}

function setupLive() {
  const timeline = new Timeline($("timeline"), $("legend"));
  const gauge = new ValenceGauge($("valence"), $("valence-text"));
  const ids = ["video", "overlay", "stage", "status", "start", "stop", "mirror", "listen", "fps", "rtt", "proc", "dropped", "events"];
  const els = Object.fromEntries(ids.map((id) => [id, $(id)]));
  return new LivePanel({ ...els, voiceText: $("voice-text"), fusedText: $("fused-text"), bodyText: $("body-text") }, timeline, gauge);
}

function setupFiles() {
  const status = $("upload-status");
  const videoJob = new VideoJobView(
    {
      section: $("video-result"),
      progress: $("video-progress"),
      progressLabel: $("video-progress-label"),
      deleteButton: $("video-delete"),
      summary: $("video-summary"),
      tracksBody: $("tracks-table").tBodies[0],
      csvLink: $("download-csv"),
      mp4Link: $("download-mp4"),
      expires: $("video-expires"),
      player: $("video-player"),
      playerNote: $("video-player-note"),
      chart: $("track-chart"),
      chartLegend: $("track-legend"),
      voice: $("video-voice"),
      voiceSummary: $("video-voice-summary"),
    },
    status,
  );
  const analyser = new FileAnalyser(
    {
      input: $("file"),
      dropzone: $("dropzone"),
      status,
      imageSection: $("image-result"),
      imageCanvas: $("image-canvas"),
      facesBody: $("faces-table").tBodies[0],
      audioSection: $("audio-result"),
      audioSummary: $("audio-summary"),
      audioBody: $("audio-table").tBodies[0],
    },
    videoJob,
  );
  const samples = { section: $("samples"), summary: $("samples-title"), list: $("samples-list"), status };
  loadSamples(samples, (file) => analyser.analyse(file));
  return analyser;
}

setupLive();
showServerInfo(setupFiles());
