// mien's page: upload and progress, the jobs list, and the live camera over the /live WebSocket
// (a job's results view is results.js). Plain JavaScript, no build step; the one third-party file
// is the vendored uPlot (static/vendor). The API is described at /docs.
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);

function withToken(url) {
  return token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url;
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) $("auth-note").hidden = false;
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new Error((body && body.detail) || response.status + " " + response.statusText);
  return body;
}

function element(tag, text, className) {
  const made = document.createElement(tag);
  if (text !== undefined) made.textContent = text;
  if (className) made.className = className;
  return made;
}

function seconds(s) {
  if (s === null || s === undefined) return "";
  return s < 90 ? Math.round(s) + " s" : Math.round(s / 60) + " min";
}

// -- Upload a file and watch its job ------------------------------------------------------------

function upload(file) {
  // XMLHttpRequest rather than fetch: it reports upload progress.
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "uploads");
    if (token) request.setRequestHeader("Authorization", "Bearer " + token);
    request.upload.onprogress = (e) => {
      if (e.lengthComputable) showProgress(e.loaded / e.total, "Uploading " + file.name + "…");
    };
    request.onload = () => {
      const body = JSON.parse(request.responseText || "null");
      request.status === 201 ? resolve(body) : reject(new Error((body && body.detail) || request.statusText));
    };
    request.onerror = () => reject(new Error("the upload failed (network)"));
    const form = new FormData();
    form.append("file", file);
    request.send(form);
  });
}

function showProgress(fraction, text, isError) {
  const bar = $("upload-progress");
  bar.hidden = fraction === null;
  if (fraction !== null) bar.value = fraction;
  $("upload-status").textContent = text;
  $("upload-status").className = "status" + (isError ? " error" : "");
}

function progressText(job) {
  const p = job.progress || {};
  if (job.status === "done") return (p.frames_done ?? "?") + " frames" + (p.frames_per_second ? " at " + p.frames_per_second.toFixed(0) + "/s" : "");
  if (job.status === "failed") return "failed: " + (job.error || "");
  if (job.status === "queued") return "queued";
  let text = (p.frames_done ?? 0) + (p.frames_total ? " / " + p.frames_total : "") + " frames";
  if (p.frames_per_second) text += ", " + p.frames_per_second.toFixed(1) + " frames/s";
  if (p.eta_s !== null && p.eta_s !== undefined) text += ", about " + seconds(p.eta_s) + " left";
  return text;
}

async function watch(jobId) {
  for (;;) {
    const job = await api("jobs/" + jobId);
    const p = job.progress || {};
    const fraction = job.status === "done" ? 1 : (p.frames_total ? (p.frames_done || 0) / p.frames_total : 0);
    showProgress(fraction, "Job " + jobId + ": " + progressText(job), job.status === "failed");
    if (job.status === "done" || job.status === "failed") {
      refreshJobs();
      if (job.status === "done") openResults(job.id);
      return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

$("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("file").files[0];
  if (!file) return;
  const options = {};
  if ($("max-frames").value) options.max_frames = Number($("max-frames").value);
  try {
    const uploaded = await upload(file);
    showProgress(0, "Uploaded; creating the job…");
    const job = await api("jobs", { method: "POST", headers: { "Content-Type": "application/json" },
                                    body: JSON.stringify({ upload: uploaded.id, options }) });
    refreshJobs();
    await watch(job.id);
  } catch (error) {
    showProgress(null, error.message, true);
  }
});

// -- Jobs list ------------------------------------------------------------------------------------

function downloads(job) {
  const cell = element("td");
  if (job.status !== "done") return cell;
  const links = [["rows CSV", "results?format=csv"], ["rows Parquet", "results?format=parquet"],
                 ["events CSV", "events?format=csv"], ["summary CSV", "summary?format=csv"]];
  for (const [label, path] of links) {
    const link = element("a", label);
    link.href = withToken("jobs/" + job.id + "/" + path);
    link.download = "";
    cell.append(link, " ");  // a space: the links may wrap between them
  }
  return cell;
}

async function refreshJobs() {
  let jobs;
  try {
    jobs = await api("jobs");
  } catch (error) {
    $("jobs-body").replaceChildren(row([element("td", error.message, "status error")], 6));
    return;
  }
  if (!jobs.length) {
    $("jobs-body").replaceChildren(row([element("td", "No jobs yet.", "muted")], 6));
    return;
  }
  jobs.sort((a, b) => String(b.created).localeCompare(String(a.created)));
  $("jobs-body").replaceChildren(...jobs.map((job) => {
    const status = element("td");
    status.append(element("span", job.status, "pill " + job.status));
    const id = element("td");
    id.append(element("div", job.name || "(no name)", "name"), element("code", job.id, "muted"));
    if (job.status === "done") {
      const open = element("button", "Open results", "small open");
      open.type = "button";
      open.onclick = () => openResults(job.id);
      id.append(" ", open);
    }
    const remove = element("td");
    if (job.status === "done" || job.status === "failed") {
      const button = element("button", "Delete", "link");
      button.type = "button";
      button.onclick = async () => {
        if (!confirm("Delete job " + job.id + " and its results?")) return;
        try { await api("jobs/" + job.id, { method: "DELETE" }); } catch (error) { alert(error.message); }
        refreshJobs();
      };
      remove.append(button);
    }
    const tr = element("tr");
    tr.append(id, status, element("td", progressText(job), "progress"), element("td", String(job.created || "").replace("T", " ").slice(0, 16), "when"),
              downloads(job), remove);
    return tr;
  }));
}

function row(cells, span) {
  const tr = element("tr");
  cells[0].colSpan = span;
  tr.append(...cells);
  return tr;
}

$("refresh-jobs").addEventListener("click", refreshJobs);
refreshJobs();
setInterval(refreshJobs, 5000);

// -- Live camera ------------------------------------------------------------------------------------

const live = { socket: null, stream: null, sent: 0, answered: 0, since: 0, waiting: false, events: 0 };
const grab = document.createElement("canvas");  // the frame sent, at the camera's size

function liveStatus(text, isError) {
  $("live-status").textContent = text;
  $("live-status").className = "status" + (isError ? " error" : "");
}

async function startLive() {
  try {
    live.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (error) {
    liveStatus("No camera: " + error.message, true);
    return;
  }
  const video = $("camera");
  video.srcObject = live.stream;
  $("camera-off").hidden = true;
  await video.play().catch(() => {});
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const path = location.pathname.replace(/[^/]*$/, "") + "live";
  live.socket = new WebSocket(withToken(scheme + "//" + location.host + path));
  live.socket.binaryType = "arraybuffer";
  live.sent = live.answered = 0;
  live.lastError = "";
  live.since = performance.now();
  $("live-events").replaceChildren();
  live.socket.onopen = () => { liveStatus("connected"); sendFrame(); };
  live.socket.onmessage = (message) => onAnswer(JSON.parse(message.data));
  live.socket.onclose = (e) => {
    // 1000: the server's close after "finished", whose status line stays.
    if (e.code !== 1000) liveStatus(live.lastError || "connection closed (" + e.code + (e.reason ? ": " + e.reason : "") + ")", true);
    live.socket = null;
    stopCamera();
  };
  live.socket.onerror = () => liveStatus("the live connection failed", true);
  $("live-start").disabled = true;
  $("live-stop").disabled = false;
}

function sendFrame() {
  // One frame in flight at a time: the next goes when the answer to this one has come, so the
  // picture never falls behind the camera.
  const video = $("camera");
  if (!live.socket || live.socket.readyState !== WebSocket.OPEN || live.waiting) return;
  if (!video.videoWidth) { setTimeout(sendFrame, 50); return; }
  grab.width = video.videoWidth;
  grab.height = video.videoHeight;
  grab.getContext("2d").drawImage(video, 0, 0);
  live.waiting = true;
  grab.toBlob((blob) => {
    if (!blob || !live.socket || live.socket.readyState !== WebSocket.OPEN) { live.waiting = false; return; }
    live.socket.send(blob);
    live.sent += 1;
  }, "image/jpeg", 0.8);
}

function onAnswer(answer) {
  if (answer.type === "frame" || answer.type === "error") {
    live.waiting = false;
    live.answered += 1;
    if (answer.type === "frame") { draw(answer); readout(answer); addEvents(answer.events); }
    else if (answer.status === 429) setTimeout(sendFrame, 100);
    else { live.lastError = answer.detail; liveStatus(answer.detail, true); }
    const rate = live.answered / ((performance.now() - live.since) / 1000);
    if (answer.type === "frame") liveStatus(rate.toFixed(1) + " frames/s · " + (answer.seconds * 1000).toFixed(0) + " ms analysis");
    if (answer.status !== 429) requestAnimationFrame(sendFrame);
  } else if (answer.type === "finished") {
    addEvents(answer.events);
    liveStatus("stopped after " + answer.frames + " frames");
  }
}

const COLOURS = ["#31d0aa", "#ffb020", "#ff5d8f", "#4aa3ff", "#c08bff", "#f2e94e"];

function draw(answer) {
  const canvas = $("overlay");
  canvas.width = answer.width;
  canvas.height = answer.height;
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  const scale = Math.max(1, answer.width / 640);
  for (const face of answer.faces) {
    const colour = face.face_id >= 0 ? COLOURS[face.face_id % COLOURS.length] : "#cccccc";
    const [x, y, w, h] = face.box;
    context.lineWidth = 2 * scale;
    context.strokeStyle = colour;
    context.strokeRect(x, y, w, h);
    context.fillStyle = colour;
    for (const [px, py] of face.landmarks) {
      if (px !== null) context.fillRect(px - 1.5 * scale, py - 1.5 * scale, 3 * scale, 3 * scale);
    }
    const probability = face.expression ? face.expressions[face.expression] : null;
    const label = (face.face_id >= 0 ? "#" + face.face_id : "new") +
                  (face.expression ? " " + face.expression + " " + Math.round(100 * probability) + "%" : "");
    context.font = (14 * scale) + "px system-ui, sans-serif";
    const width = context.measureText(label).width + 8 * scale;
    const top = Math.max(0, y - 20 * scale);
    context.fillRect(x, top, width, 20 * scale);
    context.fillStyle = "#111";
    context.fillText(label, x + 4 * scale, top + 15 * scale);
  }
}

function readout(answer) {
  const box = $("live-faces");
  if (!answer.faces.length) { box.textContent = "no face in the picture"; box.className = "muted"; return; }
  box.className = "";
  box.replaceChildren(...answer.faces.map((face) => {
    const part = element("div");
    const pose = face.pose;
    part.append(element("strong", (face.face_id >= 0 ? "Face #" + face.face_id : "New face") + " · " + (face.expression || "")));
    part.append(element("div", "yaw " + fmt(pose.yaw) + "°, pitch " + fmt(pose.pitch) + "°, roll " + fmt(pose.roll) +
                                "° · valence " + fmt(face.valence, 2) + ", arousal " + fmt(face.arousal, 2), "muted"));
    const top = Object.entries(face.expressions).sort((a, b) => b[1] - a[1]).slice(0, 4);
    for (const [name, p] of top) {
      const bar = element("div", undefined, "bar");
      const fill = element("span", undefined, "fill");
      fill.style.width = Math.round(120 * (p || 0)) + "px";
      bar.append(element("span", name), fill, element("span", Math.round(100 * (p || 0)) + "%"));
      part.append(bar);
    }
    const present = Object.entries(face.aus_present).filter(([, on]) => on).map(([au]) => au);
    part.append(element("div", "AUs present: " + (present.join(" ") || "none"), "muted"));
    return part;
  }));
}

function fmt(value, digits = 0) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

function addEvents(events) {
  for (const e of events || []) {
    const item = element("li", "#" + e.face_id + " " + e.kind + " " + e.label + ": " + fmt(e.onset, 1) + "–" +
                               fmt(e.offset, 1) + " s, peak " + fmt(e.peak, 2));
    $("live-events").prepend(item);
  }
}

function stopCamera() {
  if (live.stream) live.stream.getTracks().forEach((track) => track.stop());
  live.stream = null;
  live.waiting = false;
  $("camera-off").hidden = false;
  $("camera").srcObject = null;
  const overlay = $("overlay");
  overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
  $("live-start").disabled = false;
  $("live-stop").disabled = true;
}

function stopLive() {
  if (live.socket && live.socket.readyState === WebSocket.OPEN) live.socket.send(JSON.stringify({ type: "finish" }));
  stopCamera();
}

$("live-start").addEventListener("click", startLive);
// /?camera=on starts the live view at once (a kiosk screen; browsers still ask for the camera).
if (new URLSearchParams(location.search).get("camera") === "on") startLive();
$("live-stop").addEventListener("click", stopLive);
