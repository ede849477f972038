// Runs in the audio rendering thread: hands each block of microphone samples to the page.
class EmolensMic extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel && channel.length) this.port.postMessage(channel.slice(0));
    return true;
  }
}

registerProcessor("emolens-mic", EmolensMic);
