// mien's results view: one finished job's video (or image) with its measurements drawn over it as
// it plays, plots of expressions, valence/arousal and chosen AUs with a playhead, the events
// (click to seek), the summary and every download. Uses app.js's helpers ($, api, element,
// withToken, fmt, COLOURS) and the vendored uPlot (static/vendor, MIT). No build step.
"use strict";

const EXPRESSION_COLOURS = {
  neutral: "#98a2b3", happiness: "#f5a623", surprise: "#13b5c8", sadness: "#2f6fde",
  anger: "#d92d20", disgust: "#3f9142", fear: "#8e44ad", contempt: "#9c6b3c",
};
const AFFECT_COLOURS = { valence: "#d6336c", arousal: "#1c7ed6" };
// Head rotation in solid colours, gaze in lighter tones of the same two axes.
const HEAD_COLOURS = { pose_yaw: "#1864ab", pose_pitch: "#c92a2a", pose_roll: "#5f3dc4", gaze_yaw: "#74c0fc", gaze_pitch: "#ffa8a8" };
const AU_COLOURS = ["#2f6fde", "#d92d20", "#3f9142", "#f5a623", "#8e44ad", "#13b5c8", "#9c6b3c", "#e64980"];
const LANDMARK_WINDOW_S = 20;  // landmarks are fetched this many seconds at a time, near the playhead
const PLOT_HEIGHT = 150;

const view = {
  job: null, generation: 0, rows: null, times: [], starts: [], person: null,
  landmarks: new Map(), windows: new Set(), plots: [], aus: [], events: [], last: -1,
};

// -- Opening and closing ------------------------------------------------------------------------

async function openResults(jobId) {
  const generation = ++view.generation;  // callbacks of a job opened before this one stop
  const section = $("results");
  section.hidden = false;
  history.replaceState(null, "", location.search + "#results/" + jobId);
  resultsStatus("Loading job " + jobId + "…");
  for (const plot of view.plots) plot.destroy();
  Object.assign(view, { job: null, rows: null, times: [], starts: [], person: null, plots: [], events: [], last: -1 });
  view.landmarks = new Map();
  view.windows = new Set();
  ["plot-expressions", "plot-affect", "plot-aus", "results-events", "results-summary", "results-downloads", "au-picker"]
    .forEach((id) => $(id).replaceChildren());
  section.scrollIntoView({ behavior: "instant", block: "start" });
  let job, rows, events;
  try {
    [job, rows, events] = await Promise.all([api("jobs/" + jobId), api("jobs/" + jobId + "/frames"),
                                            api("jobs/" + jobId + "/events")]);
  } catch (error) {
    resultsStatus(error.message, true);
    return;
  }
  if (generation !== view.generation) return;
  view.job = job;
  view.rows = rows;
  view.events = events;
  indexFrames(rows);
  $("results-title").textContent = "Results: " + (job.name || job.id);
  const people = personIds(rows);
  view.person = people.length ? people[0].id : null;
  choosePeople(people);
  showMedia(job, generation);
  showEvents(events);
  showDownloads(job);
  loadSummary(job.id);
  const oneFrame = view.times.length <= 1;  // an image: nothing to plot over time
  $("results-plots").hidden = oneFrame;
  $("results-person").parentElement.hidden = oneFrame;  // the person is the plots' choice
  if (!oneFrame) {
    view.aus = busiestAUs(4);
    auPicker();
    drawPlots();
  }
  resultsStatus(rows.rows + " rows · " + people.length + (people.length === 1 ? " person" : " people") + " · " +
                events.length + " events");
}

function closeResults() {
  view.generation += 1;
  $("results-video").pause();
  $("results-video").removeAttribute("src");
  $("results").hidden = true;
  history.replaceState(null, "", location.search);
}

function resultsStatus(text, isError) {
  $("results-status").textContent = text;
  $("results-status").className = "status" + (isError ? " error" : "");
}

// -- The rows: which ones belong to a moment of the video -------------------------------------------

function indexFrames(rows) {
  // Rows come sorted by frame; a frame with several faces has several rows. times[i] is the i-th
  // distinct timestamp and starts[i] its first row.
  view.times = [];
  view.starts = [];
  for (let i = 0; i < rows.rows; i += 1) {
    if (i === 0 || rows.timestamp[i] !== rows.timestamp[i - 1]) {
      view.times.push(rows.timestamp[i]);
      view.starts.push(i);
    }
  }
  view.starts.push(rows.rows);
}

function lastAtOrBefore(times, t) {
  // Binary search over ascending times; -1 when t comes before them all. The 0.5 ms: the times
  // are rounded to 0.1 ms and the player's clock to the container's time base.
  let low = 0, high = times.length - 1, found = -1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (times[middle] <= t + 0.0005) { found = middle; low = middle + 1; } else high = middle - 1;
  }
  return found;
}

function frameAt(t) {
  // The analysed frame shown at time t: -1 before the first and past the last (a job with a cap
  // on frames covers the start of the video only).
  const times = view.times;
  const found = lastAtOrBefore(times, t);
  const step = times.length > 1 ? (times[times.length - 1] - times[0]) / (times.length - 1) : Infinity;
  return found === times.length - 1 && t - times[found] > 1.5 * step ? -1 : found;
}

function personIds(rows) {
  const counts = new Map();
  rows.face_id.forEach((id) => { if (id !== null && id >= 0) counts.set(id, (counts.get(id) || 0) + 1); });
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([id, n]) => ({ id, rows: n }));
}

function choosePeople(people) {
  const select = $("results-person");
  select.replaceChildren(...people.map((p) => {
    const option = element("option", "#" + p.id + " (" + p.rows + " frames)");
    option.value = String(p.id);
    return option;
  }));
  select.disabled = people.length < 2;
  select.onchange = () => { view.person = Number(select.value); drawPlots(); };
}

// -- The video and its overlay --------------------------------------------------------------------

async function showMedia(job, generation) {
  const video = $("results-video");
  const image = $("results-image");
  const source = withToken("jobs/" + job.id + "/media");
  // Image or video: the media's type, from its first byte (the job does not say).
  const probe = await fetch(source, { headers: { Range: "bytes=0-0" } }).catch(() => null);
  if (generation !== view.generation) return;
  const isImage = Boolean(probe && (probe.headers.get("content-type") || "").startsWith("image/"));
  video.hidden = isImage;
  image.hidden = !isImage;
  $("results-media-note").hidden = true;
  $("results-stage").hidden = false;
  if (isImage) {
    video.removeAttribute("src");
    image.onload = () => { fitStage(image.naturalWidth, image.naturalHeight); drawOverlay(0); };
    image.src = source;
    return;
  }
  const unplayable = () => {  // e.g. HEVC or AVI: the plots, events and tables still work
    $("results-stage").hidden = true;
    $("results-media-note").hidden = false;
  };
  video.onloadedmetadata = () => {
    if (!video.videoWidth) { unplayable(); return; }  // a container read, its video codec not (audio only)
    fitStage(video.videoWidth, video.videoHeight);
    drawOverlay(video.currentTime);
  };
  video.onerror = unplayable;
  video.src = source;
  const follow = (now, frame) => {
    if (generation !== view.generation) return;
    drawOverlay(frame ? frame.mediaTime : video.currentTime);
    video.requestVideoFrameCallback(follow);
  };
  if ("requestVideoFrameCallback" in video) video.requestVideoFrameCallback(follow);
  // Seeks and pauses do not always present a new frame; the overlay follows them too.
  video.ontimeupdate = video.onseeked = () => { if (generation === view.generation) drawOverlay(video.currentTime); };
}

function fitStage(width, height) {
  $("results-stage").style.aspectRatio = width + " / " + height;
  const canvas = $("results-overlay");
  canvas.width = width;
  canvas.height = height;
}

function drawOverlay(t) {
  const canvas = $("results-overlay");
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  movePlayheads(t);
  const index = frameAt(t);
  markEvents(t);
  if (index < 0 || !view.rows) { $("results-now").textContent = fmt(t, 2) + " s · not analysed"; return; }
  loadLandmarksNear(t);
  const rows = view.rows;
  // Canvas pixels per pixel on screen: lines and labels keep one size on screen whatever the video's.
  const scale = canvas.clientWidth ? canvas.width / canvas.clientWidth : Math.max(1, canvas.width / 640);
  const faces = [];
  for (let i = view.starts[index]; i < view.starts[index + 1]; i += 1) {
    if (!rows.box[i]) continue;  // a frame with no face
    const id = rows.face_id[i];
    const expression = rows.emotion[i];
    faces.push({
      i, box: rows.box[i], colour: id !== null && id >= 0 ? COLOURS[id % COLOURS.length] : "#cccccc",
      label: (id !== null && id >= 0 ? "#" + id : "new") +
             (expression ? " " + expression + " " + Math.round(100 * rows.series[expression][i]) + "%" : ""),
      points: $("show-landmarks").checked ? view.landmarks.get(rows.frame[i] + ":" + id) : null,
    });
  }
  for (const face of faces) {  // boxes and landmarks first, so that no box crosses a label
    const [x, y, w, h] = face.box;
    context.lineWidth = 2 * scale;
    context.strokeStyle = face.colour;
    context.strokeRect(x, y, w, h);
    context.fillStyle = face.colour;
    for (let k = 0; face.points && k < face.points.length; k += 2) {
      if (face.points[k] !== null) context.fillRect(face.points[k] - 1.5 * scale, face.points[k + 1] - 1.5 * scale, 3 * scale, 3 * scale);
    }
  }
  context.font = (13 * scale) + "px system-ui, sans-serif";
  const placed = [];
  for (const face of faces) {
    const [x, y, w, h] = face.box;
    const width = context.measureText(face.label).width + 8 * scale;
    const height = 19 * scale;
    // Above the box; below it when that is off the picture or on another face's label.
    const spots = [y - height, y + h].filter((top) => top >= 0 && top + height <= canvas.height);
    const top = spots.find((spot) => !placed.some((r) => x < r.x + r.w && r.x < x + width && spot < r.y + r.h && r.y < spot + height)) ??
                spots[0] ?? Math.max(0, y);
    placed.push({ x, y: top, w: width, h: height });
    context.fillStyle = face.colour;
    context.fillRect(x, top, width, height);
    context.fillStyle = "#111";
    context.fillText(face.label, x + 4 * scale, top + 14 * scale);
  }
  const said = faces.map((face) => face.label + " · valence " + fmt(rows.series.valence[face.i], 2) + ", arousal " +
                                    fmt(rows.series.arousal[face.i], 2));
  $("results-now").textContent = fmt(view.times[index], 2) + " s · frame " + rows.frame[view.starts[index]] + "\n" +
                                 (said.join("\n") || "no face");
}

async function loadLandmarksNear(t) {
  // The window holding t, and the next one so that playing on does not wait for it.
  const first = Math.max(0, Math.floor(t / LANDMARK_WINDOW_S));
  for (const index of [first, first + 1]) {
    if (view.windows.has(index)) continue;
    view.windows.add(index);
    const generation = view.generation;
    const start = index * LANDMARK_WINDOW_S;
    try {
      const part = await api("jobs/" + view.job.id + "/frames?landmarks=true&start=" + start + "&end=" +
                             (start + LANDMARK_WINDOW_S));
      if (generation !== view.generation) return;
      for (let i = 0; i < part.rows; i += 1) {
        if (part.landmarks[i]) view.landmarks.set(part.frame[i] + ":" + part.face_id[i], part.landmarks[i]);
      }
      const video = $("results-video");
      drawOverlay(video.hidden ? 0 : video.currentTime);
    } catch (error) {
      view.windows.delete(index);  // tried again at the next frame
    }
  }
}

function seek(t) {
  // The player shows the last frame at or before currentTime, and the times it is given are
  // rounded (to 0.1 ms): aiming 1 ms later lands on the frame the time names, not the one before.
  const video = $("results-video");
  if (video.hidden || !Number.isFinite(t)) return;
  video.currentTime = Math.max(0, t) + 0.001;
}

// -- Plots ------------------------------------------------------------------------------------------

function personSeries(names) {
  // [times, ...one array per name] over the rows of the chosen person, for uPlot.
  const rows = view.rows;
  const keep = [];
  for (let i = 0; i < rows.rows; i += 1) if (view.person === null || rows.face_id[i] === view.person) keep.push(i);
  return [keep.map((i) => rows.timestamp[i]), ...names.map((name) => keep.map((i) => rows.series[name][i]))];
}

function busiestAUs(count) {
  // The AUs with the highest mean intensity for the chosen person: a useful first picture.
  const names = Object.keys(view.rows.series).filter((name) => /^AU\d\d$/.test(name));
  const columns = personSeries(names).slice(1);
  const means = names.map((name, k) => {
    const values = columns[k].filter((v) => v !== null);
    return [name, values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)];
  });
  // AU43 (eyes closed) and AU45 (blink) read the same closed lids: the first picture shows one.
  const picked = [];
  for (const [name] of means.sort((a, b) => b[1] - a[1])) {
    const twin = { AU43: "AU45", AU45: "AU43" }[name];
    if (picked.length < count && !picked.includes(twin)) picked.push(name);
  }
  return picked.sort();
}

function auPicker() {
  const names = Object.keys(view.rows.series).filter((name) => /^AU\d\d$/.test(name));
  $("au-picker").replaceChildren(...names.map((name) => {
    const label = element("label", undefined, "chip");
    const box = element("input");
    box.type = "checkbox";
    box.value = name;
    box.checked = view.aus.includes(name);
    box.onchange = () => {
      view.aus = names.filter((n) => n === name ? box.checked : view.aus.includes(n));
      view.plots[2].destroy();
      view.plots[2] = auPlot();
      const shown = view.plots[0].scales.x;  // the new plot keeps the zoom of the others
      view.plots[2].setScale("x", { min: shown.min, max: shown.max });
      followPlayhead();
    };
    label.append(box, name);
    return label;
  }));
}

function drawPlots() {
  for (const plot of view.plots) plot.destroy();
  view.plots = [];
  const expressions = Object.keys(EXPRESSION_COLOURS).filter((name) => name in view.rows.series);
  view.plots.push(
    plot($("plot-expressions"), expressions.map((name) => [name, EXPRESSION_COLOURS[name]]), [0, 1]),
    plot($("plot-affect"), [["valence", AFFECT_COLOURS.valence], ["arousal", AFFECT_COLOURS.arousal]], [-1, 1]),
    auPlot(),
    plot($("plot-head"), Object.keys(HEAD_COLOURS).filter((name) => name in view.rows.series)
                           .map((name) => [name.replace("pose_", "head ").replace("_", " "), HEAD_COLOURS[name], name]), null),
  );
  followPlayhead();
}

function auPlot() {
  return plot($("plot-aus"), view.aus.map((name, k) => [name, AU_COLOURS[k % AU_COLOURS.length]]), [0, 5]);
}

let sharingZoom = false;  // one plot's zoom being passed on to the others

function shareZoom(made, scale) {
  if (scale !== "x" || sharingZoom || !view.plots.includes(made)) return;
  sharingZoom = true;
  for (const other of view.plots) if (other !== made) other.setScale("x", { min: made.scales.x.min, max: made.scales.x.max });
  sharingZoom = false;
  followPlayhead();
}

function followPlayhead() {
  // After uPlot's first drawing (the next animation frame), which would blank the legend again.
  requestAnimationFrame(() => {
    const video = $("results-video");
    movePlayheads(video.hidden ? 0 : video.currentTime);
  });
}

function plot(target, series, range) {
  // series: [label, colour, column (default: the label)]; range: the y axis's [min, max], or null
  // to fit the data (head and gaze angles).
  const options = {
    width: Math.max(300, target.clientWidth), height: PLOT_HEIGHT,
    scales: { x: { time: false }, y: range ? { range: () => range } : { auto: true } },
    axes: [{ values: (u, ticks) => ticks.map((v) => v + " s") }, { size: 42 }],
    series: [{ label: "time", value: (u, v) => v === null || v === undefined ? "–" : v.toFixed(2) + " s" },
             ...series.map(([label, colour]) => ({ label, stroke: colour, width: 1.5,
                                                   value: (u, v) => v === null || v === undefined ? "–" : v.toFixed(2) }))],
    // Drag across a plot to zoom every plot to that stretch of time; double-click to see it all.
    cursor: { drag: { x: true, y: false, setScale: true }, sync: { key: "mien-results" } },
    hooks: { setScale: [shareZoom] },
  };
  const data = personSeries(series.map(([label, , column]) => column || label));
  const made = new uPlot(options, data, target);
  made.times = data[0];
  made.playhead = element("div", undefined, "playhead");
  made.over.append(made.playhead);
  // A click moves the video there; the end of a drag (a zoom) does not.
  let pressedAt = null;
  made.over.addEventListener("mousedown", (event) => { pressedAt = event.clientX; });
  made.over.addEventListener("click", (event) => {
    if (pressedAt === null || Math.abs(event.clientX - pressedAt) <= 3) seek(made.posToVal(made.cursor.left, "x"));
  });
  return made;
}

function movePlayheads(t) {
  // The line at the playhead, and the legend's values those of the frame shown (unless the mouse
  // is over the plot: then uPlot's legend reads out the values under it).
  for (const made of view.plots) {
    const x = made.valToPos(t, "x");
    made.playhead.style.transform = "translateX(" + x + "px)";
    made.playhead.hidden = !Number.isFinite(x) || x < 0 || x > made.over.clientWidth;
    const idx = lastAtOrBefore(made.times, t);
    if (made.cursor.left < 0 && idx >= 0) made.setLegend({ idx });
  }
}

window.addEventListener("resize", () => {
  if (!view.rows) return;
  for (const made of view.plots) made.setSize({ width: Math.max(300, made.root.parentElement.clientWidth), height: PLOT_HEIGHT });
  followPlayhead();  // the legends' values, and labels redrawn at their size on the new screen size
  const video = $("results-video");
  requestAnimationFrame(() => drawOverlay(video.hidden ? 0 : video.currentTime));
});

// -- Events -----------------------------------------------------------------------------------------

function clock(t) {
  const minutes = Math.floor(t / 60);
  return minutes + ":" + (t - 60 * minutes).toFixed(1).padStart(4, "0");
}

function showEvents(events) {
  const list = $("results-events");
  if (!events.length) { list.replaceChildren(element("li", "No events.", "muted")); return; }
  events.sort((a, b) => a.onset - b.onset);
  list.replaceChildren(...events.map((e) => {
    const button = element("button", undefined, "event");
    button.type = "button";
    button.dataset.onset = e.onset;
    button.dataset.offset = e.offset;
    button.append(element("span", clock(e.onset), "when"), element("span", "#" + e.face_id, "who"),
                  element("span", e.label, "what"),
                  element("span", e.kind.replace("_", " ") + " · " + fmt(e.duration, 1) + " s · peak " + fmt(e.peak, 2), "muted"));
    button.onclick = () => seek(e.onset);
    const item = element("li");
    item.append(button);
    return item;
  }));
}

function markEvents(t) {
  for (const button of $("results-events").querySelectorAll("button.event")) {
    button.classList.toggle("now", Number(button.dataset.onset) <= t + 0.0005 && t <= Number(button.dataset.offset));
  }
}

// -- Summary and downloads ----------------------------------------------------------------------------

async function loadSummary(jobId) {
  const generation = view.generation;
  let people;
  try {
    people = await api("jobs/" + jobId + "/summary");
  } catch (error) {
    $("results-summary").replaceChildren(element("p", error.message, "status error"));
    return;
  }
  if (generation !== view.generation) return;
  $("results-summary").replaceChildren(...summaryTables(people));
}

function summaryTables(people) {
  // Two tables, one column (group) per person: the single measures, then every AU and expression
  // as mean · peak · rate (docs/summary.md).
  if (!people.length) return [element("p", "No person was seen.", "muted")];
  const names = Object.keys(people[0]).filter((name) => name !== "input" && name !== "face_id");
  const triples = [...new Set(names.filter((n) => /_(mean|peak|rate)$/.test(n)).map((n) => n.replace(/_(mean|peak|rate)$/, "")))]
    .filter((base) => ["mean", "peak", "rate"].every((part) => names.includes(base + "_" + part)));
  const single = names.filter((n) => !triples.some((base) => n.startsWith(base + "_") && /_(mean|peak|rate)$/.test(n)));

  const overall = element("table", undefined, "summary");
  const overallBody = element("tbody");
  overall.append(headRow(["Measure", ...people.map((p) => "#" + p.face_id)]), overallBody);
  for (const name of single) {
    overallBody.append(bodyRow([name.replaceAll("_", " "), ...people.map((p) => fmt(p[name], name === "frames" || name === "blinks" ? 0 : 2))]));
  }
  const detail = element("table", undefined, "summary");
  const detailBody = element("tbody");
  detail.append(headRow(["AU or expression", ...people.flatMap((p) => ["#" + p.face_id + " mean", "peak", "rate"])]), detailBody);
  for (const base of triples) {
    detailBody.append(bodyRow([base, ...people.flatMap((p) => ["mean", "peak", "rate"].map((part) => fmt(p[base + "_" + part], 2)))]));
  }
  const left = element("div", undefined, "table-wrap");
  left.append(overall);
  const right = element("div", undefined, "table-wrap");
  right.append(detail);
  return [left, right];
}

function headRow(cells) {
  const tr = element("tr");
  tr.append(...cells.map((text) => element("th", text)));
  const head = element("thead");
  head.append(tr);
  return head;
}

function bodyRow(cells) {
  const tr = element("tr");
  tr.append(...cells.map((text, k) => element(k ? "td" : "th", text, k ? "number" : "")));
  return tr;
}

function showDownloads(job) {
  const files = [
    ["Rows", [["JSON", "results?format=json"], ["CSV", "results?format=csv"], ["Parquet", "results?format=parquet"]]],
    ["Events", [["JSON", "events?format=json"], ["CSV", "events?format=csv"], ["Parquet", "events?format=parquet"]]],
    ["Summary per person", [["JSON", "summary?per=person&format=json"], ["CSV", "summary?per=person&format=csv"]]],
    ["Summary of the input", [["JSON", "summary?per=input&format=json"], ["CSV", "summary?per=input&format=csv"]]],
  ];
  $("results-downloads").replaceChildren(...files.map(([what, formats]) => {
    const group = element("div", undefined, "download-group");
    group.append(element("span", what, "what"));
    for (const [format, path] of formats) {
      const link = element("a", format, "button");
      link.href = withToken("jobs/" + job.id + "/" + path);
      link.download = job.id + "-" + what.toLowerCase().replaceAll(" ", "-") + "." + format.toLowerCase();
      group.append(link);
    }
    return group;
  }));
}

$("results-close").addEventListener("click", closeResults);
$("show-landmarks").addEventListener("change", () => drawOverlay($("results-video").currentTime));
// /#results/<job id> opens that job's results (a link to share, a reload keeps the view).
const opened = location.hash.match(/^#results\/([0-9a-f]+)$/);
if (opened) openResults(opened[1]);
