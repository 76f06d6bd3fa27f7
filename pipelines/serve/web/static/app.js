// The fakespeech page: upload (drop, pick or record) -> POST /api/score -> verdict, P(spoof), timeline plot.
"use strict";

const $ = (id) => document.getElementById(id);
let model = null;
const THRESHOLD_NAMES = {
  model_softmax: "P(spoof) 0.5 of the model's softmax", dev_eer: "the dev EER threshold", logit_zero: "logit 0",
};

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
  $("status").textContent = "";
}

function clearMessages() {
  $("error").hidden = true;
  $("error").textContent = "";
}

async function loadModel() {
  const response = await fetch("/api/model");
  model = await response.json();
  $("model-name").textContent = model.model;
  $("model-note").textContent = model.note ? "(" + model.note + ")" : "";
  $("limit").textContent = "up to " + (model.max_upload_bytes / 1048576).toFixed(0) + " MB; WAV, FLAC, OGG, MP3, AIFF…";
  $("card").innerHTML = model.card_html;
}

async function score(blob, name) {
  clearMessages();
  if (blob.size === 0) {
    return showError(name + ": the file is empty (0 bytes).");
  }
  if (model && blob.size > model.max_upload_bytes) {
    return showError(name + ": " + blob.size.toLocaleString() + " bytes is above the upload limit of " +
                     model.max_upload_bytes.toLocaleString() + " bytes.");
  }
  $("status").textContent = "Scoring " + name + "…";
  const query = "?timeline=1&waveform=960&filename=" + encodeURIComponent(name);
  let response, document_;
  try {
    response = await fetch("/api/score" + query, {
      method: "POST", body: blob, headers: {"Content-Type": blob.type || "application/octet-stream"},
    });
    document_ = await response.json();
  } catch (error) {
    return showError("The server did not answer (" + error + ").");
  }
  if (!response.ok) {
    $("result").hidden = true;
    return showError(document_.error || ("HTTP " + response.status));
  }
  $("status").textContent = "";
  showResult(document_);
}

function showResult(doc) {
  const result = doc.results[0];
  const verdict = $("verdict");
  verdict.textContent = result.decision === "spoof" ? "spoof" : "bona fide";
  verdict.className = result.decision;
  $("p-spoof").textContent = result.p_spoof === undefined ? "n/a (uncalibrated)" : result.p_spoof.toFixed(4);
  $("score").textContent = result.score.toFixed(3);
  $("threshold").textContent = "threshold " + doc.threshold.toFixed(3) + ", " +
    (THRESHOLD_NAMES[doc.threshold_source] || doc.threshold_source);
  $("windows").textContent = result.windows + " window" + (result.windows === 1 ? "" : "s") + ", " +
    result.duration.toFixed(2) + " s";
  $("file-name").textContent = result.path;
  $("result").hidden = false;
  drawTimeline($("timeline"), result, doc.threshold);
}

function drawTimeline(canvas, result, threshold) {
  const ctx = canvas.getContext("2d");
  const width = canvas.width, height = canvas.height, left = 50, right = 10, top = 10, bottom = 30;
  const plotWidth = width - left - right, plotHeight = height - top - bottom;
  const duration = Math.max(result.duration, ...result.timeline.map((w) => w.end));
  const x = (t) => left + (t / duration) * plotWidth;
  ctx.clearRect(0, 0, width, height);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, width, height);
  // The waveform envelope, in the background (amplitude -1..1 over the plot's height).
  const wave = result.waveform;
  if (wave) {
    ctx.fillStyle = "#bbb";
    const columns = wave.min.length;
    for (let i = 0; i < columns; i++) {
      const t = (i / columns) * wave.duration;
      const y1 = top + plotHeight * (1 - (wave.max[i] + 1) / 2), y2 = top + plotHeight * (1 - (wave.min[i] + 1) / 2);
      ctx.fillRect(x(t), y1, Math.max(1, plotWidth / columns * wave.duration / duration), Math.max(1, y2 - y1));
    }
  }
  // Window scores: one segment per window, on a score axis that includes the threshold.
  const scores = result.timeline.map((w) => w.score).concat([threshold]);
  let low = Math.min(...scores), high = Math.max(...scores);
  const pad = Math.max(1, (high - low) * 0.1);
  low -= pad; high += pad;
  const y = (s) => top + plotHeight * (1 - (s - low) / (high - low));
  ctx.lineWidth = 4;
  for (const w of result.timeline) {
    ctx.strokeStyle = w.score > threshold ? "#207040" : "#c03030";
    ctx.beginPath();
    ctx.moveTo(x(w.start), y(w.score));
    ctx.lineTo(x(w.end), y(w.score));
    ctx.stroke();
  }
  ctx.lineWidth = 1.5;
  ctx.setLineDash([6, 4]);
  ctx.strokeStyle = "#333";
  ctx.beginPath();
  ctx.moveTo(left, y(threshold));
  ctx.lineTo(width - right, y(threshold));
  ctx.stroke();
  ctx.setLineDash([]);
  // Axes: score on the left, time at the bottom.
  ctx.fillStyle = "#333";
  ctx.font = "12px sans-serif";
  ctx.textAlign = "right";
  for (const s of [low + pad, threshold, high - pad]) {
    ctx.fillText(s.toFixed(1), left - 5, y(s) + 4);
  }
  ctx.textAlign = "center";
  const step = Math.max(1, Math.ceil(duration / 10));
  for (let t = 0; t <= duration; t += step) {
    ctx.fillText(t + " s", x(t), height - 10);
  }
  ctx.save();
  ctx.translate(12, top + plotHeight / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText("window score", 0, 0);
  ctx.restore();
  canvas.dataset.windows = String(result.timeline.length);
}

// ---- input: drop, pick, record ------------------------------------------------------------------------------

function wavBlob(chunks, sampleRate) {
  const length = chunks.reduce((n, c) => n + c.length, 0);
  const view = new DataView(new ArrayBuffer(44 + 2 * length));
  const text = (offset, s) => { for (let i = 0; i < s.length; i++) view.setUint8(offset + i, s.charCodeAt(i)); };
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * length, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, sampleRate, true); view.setUint32(28, 2 * sampleRate, true);
  view.setUint16(32, 2, true); view.setUint16(34, 16, true);
  text(36, "data"); view.setUint32(40, 2 * length, true);
  let offset = 44;
  for (const chunk of chunks) {
    for (const sample of chunk) {
      view.setInt16(offset, Math.max(-32768, Math.min(32767, Math.round(sample * 32768))), true);
      offset += 2;
    }
  }
  return new Blob([view], {type: "audio/wav"});
}

let recording = null;

async function toggleRecording() {
  const button = $("record");
  if (recording) {
    const {stream, context, processor, chunks} = recording;
    recording = null;
    processor.disconnect();
    stream.getTracks().forEach((track) => track.stop());
    await context.close();
    button.textContent = "● Record";
    button.classList.remove("recording");
    return score(wavBlob(chunks, context.sampleRate), "recording.wav");
  }
  clearMessages();
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({audio: true});
  } catch (error) {
    return showError("No microphone (" + error.message + ").");
  }
  const context = new AudioContext();
  const source = context.createMediaStreamSource(stream);
  const processor = context.createScriptProcessor(4096, 1, 1);
  const chunks = [];
  processor.onaudioprocess = (event) => chunks.push(new Float32Array(event.inputBuffer.getChannelData(0)));
  source.connect(processor);
  processor.connect(context.destination);
  recording = {stream, context, processor, chunks};
  button.textContent = "■ Stop and score";
  button.classList.add("recording");
  $("status").textContent = "Recording…";
}

function setUp() {
  const drop = $("drop");
  $("file-input").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) score(file, file.name);
    event.target.value = "";
  });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) score(file, file.name);
  });
  $("record").addEventListener("click", toggleRecording);
  loadModel().catch((error) => showError("Could not load the model description (" + error + ")."));
}

setUp();
