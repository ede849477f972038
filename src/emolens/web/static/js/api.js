// Talking to the emolens server: URLs, the access token, JSON requests and readable errors.

const TOKEN = new URLSearchParams(window.location.search).get("token") || "";

/** An error the page can show as is: one readable sentence, plus the HTTP status (0: no answer). */
export class ApiError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

export const TOKEN_HINT =
  "This server needs an access token: open the address that `emolens serve` printed (it ends in ?token=...).";

/** An absolute URL for an API path such as "api/v1/health" (relative to the page, so a prefix works). */
export function apiUrl(path) {
  return new URL(path, document.baseURI);
}

/** The same URL with ?token= added when the page has a token (for links and the WebSocket). */
export function withToken(url) {
  const out = new URL(url, document.baseURI);
  if (TOKEN) out.searchParams.set("token", TOKEN);
  return out.toString();
}

/** The WebSocket URL of the live stream. */
export function streamUrl() {
  const url = new URL(withToken(apiUrl("api/v1/stream")));
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

function authHeaders() {
  return TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {};
}

/** The server's one-sentence `detail`, or a sentence made from the status line. */
async function errorFrom(response) {
  if (response.status === 401) return new ApiError(TOKEN_HINT, 401);
  let detail = "";
  try {
    const body = await response.json();
    detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  } catch {
    detail = "";
  }
  const text = detail || `the server answered ${response.status} ${response.statusText}`.trim();
  return new ApiError(text, response.status);
}

/** fetch() with the token, turning network failures and HTTP errors into ApiError. */
async function request(path, init = {}) {
  let response;
  try {
    response = await fetch(apiUrl(path), { ...init, headers: { ...authHeaders(), ...(init.headers || {}) } });
  } catch {
    throw new ApiError("Cannot reach the emolens server. Is `emolens serve` still running?");
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

export async function getJson(path) {
  return (await request(path)).json();
}

export async function getBlob(path) {
  return (await request(path)).blob();
}

export async function deleteResource(path) {
  await request(path, { method: "DELETE" });
}

/** POST one file as the multipart field `file`; the JSON answer. */
export async function postFile(path, file) {
  const form = new FormData();
  form.append("file", file, file.name);
  return (await request(path, { method: "POST", body: form })).json();
}

/** Like postFile, with upload progress: onProgress(fraction 0..1). XHR, since fetch reports none.
 * options.signal (an AbortSignal) aborts the upload; the promise then rejects with an "AbortError". */
export function postFileWithProgress(path, file, onProgress, { signal } = {}) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError());
      return;
    }
    const xhr = new XMLHttpRequest();
    signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.open("POST", apiUrl(path));
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener("load", () => {
      const result = xhrResult(xhr);
      if (result instanceof ApiError) reject(result);
      else resolve(result);
    });
    xhr.addEventListener("error", () => reject(new ApiError("The upload failed: the server could not be reached.")));
    xhr.addEventListener("abort", () => reject(abortError()));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

function abortError() {
  return new DOMException("The upload was cancelled.", "AbortError");
}

/** The JSON answer of a finished XHR, or an ApiError with the server's detail. */
function xhrResult(xhr) {
  if (xhr.status >= 200 && xhr.status < 300) return xhr.response;
  if (xhr.status === 401) return new ApiError(TOKEN_HINT, 401);
  const detail = xhr.response && typeof xhr.response.detail === "string" ? xhr.response.detail : "";
  return new ApiError(detail || `the server answered ${xhr.status} ${xhr.statusText}`.trim(), xhr.status);
}
