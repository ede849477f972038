// The microphone, when the user switches it on: 16 kHz mono, sent as 0.5 s chunks of 16-bit PCM
// over the live WebSocket ({"type": "audio", "rate", "pcm"}). Nothing is kept in the page.

const RATE = 16000;
const CHUNK_S = 0.5;

/** Base64 of the bytes of an Int16Array (little-endian, as every browser platform is). */
function base64Of(int16) {
  const bytes = new Uint8Array(int16.buffer, int16.byteOffset, int16.byteLength);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

export class Microphone {
  #stream;
  #send;
  #context = null;
  #blocks = [];
  #count = 0;

  /** stream: a MediaStream with an audio track; send(text) puts one message on the socket. */
  constructor(stream, send) {
    this.#stream = stream;
    this.#send = send;
  }

  async start() {
    this.#context = new AudioContext({ sampleRate: RATE });
    await this.#context.audioWorklet.addModule(new URL("./mic-worklet.js", import.meta.url));
    const source = this.#context.createMediaStreamSource(this.#stream);
    const node = new AudioWorkletNode(this.#context, "emolens-mic");
    const mute = this.#context.createGain();
    mute.gain.value = 0; // the graph must reach the output to run; nothing is heard
    node.port.onmessage = (event) => this.#add(event.data);
    source.connect(node).connect(mute).connect(this.#context.destination);
    if (this.#context.state !== "running") await this.#context.resume();
  }

  #add(block) {
    this.#blocks.push(block);
    this.#count += block.length;
    if (this.#count < RATE * CHUNK_S) return;
    const pcm = new Int16Array(this.#count);
    let at = 0;
    for (const b of this.#blocks) {
      for (let i = 0; i < b.length; i += 1) pcm[at + i] = Math.max(-32768, Math.min(32767, Math.round(b[i] * 32767)));
      at += b.length;
    }
    this.#blocks = [];
    this.#count = 0;
    this.#send(JSON.stringify({ type: "audio", rate: this.#context.sampleRate, pcm: base64Of(pcm) }));
  }

  stop() {
    if (this.#context) this.#context.close();
    this.#context = null;
    this.#blocks = [];
    this.#count = 0;
  }
}
