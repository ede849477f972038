// The live camera: frames go to the server over a WebSocket, at most one in flight; results come back.

import { getJson, streamUrl } from "./api.js";
import { Microphone } from "./mic.js";

const MAX_SIDE = 640; // longer side of the frames sent, in pixels
const JPEG_QUALITY = 0.8;
const REPLY_TIMEOUT_MS = 1000; // send the next frame anyway when a reply takes longer than this

/**
 * Ask for the camera (and the microphone when listen); throws an Error whose message tells the user what to do.
 * With listen, a browser without a camera (or that refuses it) gives the microphone alone: a stream with no video track.
 */
export async function openCamera(listen = false) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error(
      "This browser gives no camera access to this page (cameras need https or http://127.0.0.1). " +
        "You can still analyse a file below.",
    );
  }
  const video = { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" };
  const audio = { channelCount: 1, echoCancellation: true };
  if (listen) {
    try {
      return await navigator.mediaDevices.getUserMedia({ video, audio });
    } catch {
      // no microphone, or refused: go on with the camera alone (the page says so); or no camera: below
    }
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ video, audio: false });
  } catch (error) {
    if (listen) {
      try {
        return await navigator.mediaDevices.getUserMedia({ video: false, audio });
      } catch {
        // neither: the camera's reason is the one to show
      }
    }
    throw new Error(cameraErrorMessage(error));
  }
}

function cameraErrorMessage(error) {
  const name = error && error.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return "Camera access was refused. Allow the camera for this site in the browser's settings, or analyse a file below.";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return 'No camera was found. Tick "Listen too" to hear the microphone alone, or analyse a file below.';
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return "The camera could not be started; another application may be using it.";
  }
  return `The camera could not be started (${name || error}).`;
}

/** Open a WebSocket; resolves once it is open, rejects when it closes first. */
function connect(url) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const onClose = (event) => reject(event);
    socket.addEventListener("close", onClose, { once: true });
    socket.addEventListener(
      "open",
      () => {
        socket.removeEventListener("close", onClose);
        resolve(socket);
      },
      { once: true },
    );
  });
}

/** Why the live connection failed: asks the health endpoint, which answers 401 for a bad token. */
async function connectionProblem() {
  try {
    await getJson("api/v1/health");
    return "The live stream of the server could not be opened.";
  } catch (error) {
    return error.message;
  }
}

/** Wait until the video element knows its frame size. */
function videoReady(video) {
  if (video.videoWidth > 0) return Promise.resolve();
  return new Promise((resolve) => video.addEventListener("loadedmetadata", () => resolve(), { once: true }));
}

/** The current video frame as a JPEG Blob, at most MAX_SIDE pixels on its longer side. */
function grabFrame(video, canvas) {
  const scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
}

/**
 * One live session: camera (+ microphone when asked) + WebSocket. Callbacks:
 * onResult(message, rttMs), onFrameError(detail), onVoice(message), onEnded(message, kind) when it stops by itself.
 */
export class LiveSession {
  #video;
  #callbacks;
  #stream = null;
  #socket = null;
  #grabCanvas = document.createElement("canvas");
  #sendTimes = new Map(); // frame number -> performance.now() when sent
  #sent = 0;
  #waitingFor = -1; // frame number whose reply gates the next send; -1: none
  #timer = 0;
  #running = false;
  #mic = null;
  listening = false; // the microphone runs
  seeing = false; // the camera runs (false: the microphone alone)

  constructor(video, callbacks) {
    this.#video = video;
    this.#callbacks = callbacks;
  }

  get running() {
    return this.#running;
  }

  /** Start the camera (and with listen the microphone, or it alone when there is no camera) and the stream;
   * throws an Error with a readable message. */
  async start(listen = false) {
    this.#stream = await openCamera(listen);
    this.seeing = this.#stream.getVideoTracks().length > 0;
    try {
      if (this.seeing) await this.#showVideo();
      this.#socket = await this.#openSocket();
      if (listen && this.#stream.getAudioTracks().length) {
        const socket = this.#socket;
        this.#mic = new Microphone(new MediaStream(this.#stream.getAudioTracks()), (text) => {
          if (socket.readyState === WebSocket.OPEN) socket.send(text);
        });
        await this.#mic.start();
        this.listening = true;
      }
    } catch (error) {
      this.#release();
      throw error;
    }
    this.#running = true;
    if (this.seeing) this.#sendNext();
  }

  /** Stop the camera and close the stream (safe to call twice). */
  stop() {
    this.#running = false;
    this.#release();
  }

  async #showVideo() {
    this.#video.srcObject = this.#stream;
    await this.#video.play();
    await videoReady(this.#video);
  }

  async #openSocket() {
    let socket;
    try {
      socket = await connect(streamUrl());
    } catch (event) {
      throw new Error(await connectionProblem());
    }
    socket.addEventListener("message", (event) => this.#onMessage(event.data));
    socket.addEventListener("close", (event) => this.#onClose(event));
    return socket;
  }

  #release() {
    clearTimeout(this.#timer);
    if (this.#mic) this.#mic.stop();
    this.#mic = null;
    this.listening = false;
    this.seeing = false;
    if (this.#socket && this.#socket.readyState <= WebSocket.OPEN) this.#socket.close(1000, "stopped");
    this.#socket = null;
    if (this.#stream) this.#stream.getTracks().forEach((track) => track.stop());
    this.#stream = null;
    this.#video.srcObject = null;
    this.#sendTimes.clear();
    this.#sent = 0;
    this.#waitingFor = -1;
  }

  /** Send the current frame, unless one is still waiting for its reply. */
  async #sendNext() {
    if (!this.#running || this.#waitingFor >= 0) return;
    const frame = this.#sent;
    this.#waitingFor = frame;
    const blob = await grabFrame(this.#video, this.#grabCanvas);
    if (!this.#running) return;
    if (!blob) {
      this.#waitingFor = -1; // no picture yet (the camera is still starting): try again shortly
      this.#timer = setTimeout(() => this.#sendNext(), 100);
      return;
    }
    this.#sent += 1;
    this.#sendTimes.set(frame, performance.now());
    this.#socket.send(blob);
    this.#timer = setTimeout(() => this.#releaseSlot(frame), REPLY_TIMEOUT_MS);
  }

  /** Allow the next send once frame's reply came (or timed out). */
  #releaseSlot(frame) {
    if (this.#waitingFor !== frame) return;
    clearTimeout(this.#timer);
    this.#waitingFor = -1;
    setTimeout(() => this.#sendNext(), 0);
  }

  #onMessage(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    const rtt = this.#roundTrip(message.frame);
    if (message.type === "voice") {
      this.#callbacks.onVoice(message);
      return;
    }
    if (message.type === "result") this.#callbacks.onResult(message, rtt);
    else if (message.type === "error") this.#callbacks.onFrameError(message.detail || "the server refused a frame");
    if (typeof message.frame === "number") this.#releaseSlot(message.frame);
  }

  /** Milliseconds since frame was sent (null if unknown); forgets it and every older frame. */
  #roundTrip(frame) {
    const sentAt = this.#sendTimes.get(frame);
    for (const key of this.#sendTimes.keys()) if (key <= frame) this.#sendTimes.delete(key);
    return sentAt === undefined ? null : performance.now() - sentAt;
  }

  #onClose(event) {
    if (!this.#running) return;
    this.stop();
    const why = event.reason ? `: ${event.reason}` : "";
    this.#callbacks.onEnded(`The server closed the live stream${why}. Press Start camera to reconnect.`, "error");
  }
}
