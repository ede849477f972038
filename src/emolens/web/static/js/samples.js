// The samples the server offers (emolens serve --samples DIR): one button each.

import { getBlob, getJson } from "./api.js";
import { messageOf, showStatus } from "./ui.js";

/** Fill the samples list; each button fetches its file and hands it to analyse(File). */
export async function loadSamples({ section, summary, list, status }, analyse) {
  let samples;
  try {
    samples = (await getJson("api/v1/samples")).samples || [];
  } catch {
    return; // no samples (or no access): the section stays hidden; the health check reports access problems
  }
  list.replaceChildren(...samples.map((sample) => sampleItem(sample, analyse, status)));
  summary.textContent = `Try a sample (${samples.length})`;
  section.hidden = samples.length === 0;
}

function sampleItem(sample, analyse, status) {
  const item = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "sample";
  button.dataset.kind = sample.kind;
  button.textContent = `${sample.name} (${sample.kind})`;
  button.addEventListener("click", () => openSample(sample, analyse, status));
  item.append(button);
  return item;
}

async function openSample(sample, analyse, status) {
  showStatus(status, `Loading the sample ${sample.name}…`);
  try {
    const blob = await getBlob(`api/v1/samples/${encodeURIComponent(sample.name)}`);
    await analyse(new File([blob], sample.name, { type: blob.type }));
  } catch (error) {
    showStatus(status, `${sample.name}: ${messageOf(error)}`, "error");
  }
}
