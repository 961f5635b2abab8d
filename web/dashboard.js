// The clip dashboard: reads /api/consumption/clips/{clipId} (curve and totals) and the
// clip's quality, engagement and royalty figures (/api/quality|engagement|royalties/
// clips/{clipId}) and draws them. The clip id is the rest of the path after
// /dashboard/clips/ (percent-encoded when it holds a "/"); the read token comes from ?token=
// and goes on as a Bearer header. window.playheadDashboard exposes the chart
// and the last answer so tests (and curious people) can read what is drawn.
"use strict";

(function () {
  const params = new URLSearchParams(window.location.search);
  const token = params.get("token") || "";
  const clipId = decodeURIComponent(window.location.pathname.replace(/^.*?\/dashboard\/clips\//, ""));
  const $ = (id) => document.getElementById(id);
  const state = { from: params.get("from") || "", to: params.get("to") || "",
                  source: params.get("source") || "" };
  // About one point per pixel of the chart; a longer clip comes back in points of
  // several buckets each (the read API's default, asked for explicitly).
  const MAX_POINTS = 1000;
  let chart = null;

  function clock(seconds) {
    const s = Math.round(seconds);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
  }

  function listened(seconds) {
    if (seconds >= 36000) return [(seconds / 3600).toFixed(0), "hours, kept sessions"];
    if (seconds >= 3600) return [(seconds / 3600).toFixed(1), "hours, kept sessions"];
    return [(seconds / 3600).toFixed(2), Math.round(seconds / 60) + " min, kept sessions"];
  }

  function percent(share) {
    return share === null || share === undefined ? "–" : (share * 100).toFixed(1) + "%";
  }

  function query() {
    const q = new URLSearchParams();
    if (state.from) q.set("from", state.from);
    if (state.to) q.set("to", state.to);
    if (state.source) q.set("source", state.source);
    return q;
  }

  function remember() {
    // Keep the view in the address bar so a reload or a shared link shows the same.
    const q = query();
    q.set("token", token);
    window.history.replaceState(null, "", window.location.pathname + "?" + q.toString());
  }

  async function load() {
    document.body.dataset.state = "loading";
    remember();
    const q = query();
    q.set("maxPoints", String(MAX_POINTS));
    // Royalties have no source: they are per platform and method.
    const days = query();
    days.delete("source");
    const asks = [["consumption", q], ["quality", query()], ["engagement", query()],
                  ["royalties", days]];
    let answers;
    try {
      answers = await Promise.all(asks.map(([name, params]) => fetch(
        "../../api/" + name + "/clips/" + encodeURIComponent(clipId) + "?" + params,
        { headers: { Authorization: "Bearer " + token } })));
    } catch (err) {
      return fail("The read API cannot be reached: " + err);
    }
    const bad = answers.find((answer) => !answer.ok);
    if (bad) {
      let detail = bad.statusText;
      try { detail = (await bad.json()).detail || detail; } catch (_) { /* not JSON */ }
      return fail(bad.status === 404 ? "No sessions of this clip in your organization."
                                     : "The read API answered " + bad.status + ": " + detail);
    }
    const [data, quality, engagement, royalties] = await Promise.all(
      answers.map((answer) => answer.json()));
    render(data, quality.quality, engagement.engagement, royalties);
  }

  function fail(text) {
    $("message").textContent = text;
    $("message").hidden = false;
    document.body.dataset.state = "error";
  }

  function count(value) {
    return value.toLocaleString("en");
  }

  function milliseconds(ms) {
    if (ms === null || ms === undefined) return "–";
    return ms >= 1000 ? (ms / 1000).toFixed(2) + " s" : Math.round(ms) + " ms";
  }

  function renderQuality(q) {
    $("startup").textContent = milliseconds(q.averageStartupMs);
    $("startup-note").textContent = q.startupMeasured ? "mean of " + count(q.startupMeasured) +
      " sessions that reported it" : "no player reported one";
    $("rebuffers").textContent = count(q.rebuffers);
    $("rebuffers-note").textContent = q.rebufferSeconds.toFixed(1) + " s stalled · " +
      percent(q.sessionsWithRebuffersShare) + " of sessions";
    $("stalled").textContent = percent(q.stalledShareOfListening);
    $("quality-changes").textContent = count(q.qualityChanges);
    $("errors").textContent = count(q.errors);
    $("errors-note").textContent = percent(q.sessionsWithErrorsShare) + " of sessions";
  }

  function renderEngagement(e) {
    for (const name of ["impressions", "likes", "shares", "saves", "swipes", "completions"]) {
      $(name).textContent = count(e[name]);
    }
  }

  function renderRoyalties(r) {
    const names = ["clipPlays", "deniedPlays", "trackPlays", "adds", "downloads"];
    const body = $("royalties");
    body.replaceChildren();
    // The totals row is marked by position, not name: a platform may be called "Total".
    const rows = [...r.byPlatform, { platform: "Total", method: "", ...r.totals }];
    rows.forEach((row, index) => {
      const line = body.insertRow();
      const total = index === rows.length - 1;
      if (total) line.className = "total";
      line.insertCell().textContent = total || row.platform ? row.platform : "(none)";
      line.insertCell().textContent = row.method;
      for (const name of names) {
        const cell = line.insertCell();
        cell.className = "num";
        cell.dataset.figure = name;
        cell.textContent = count(row[name]);
      }
    });
  }

  function render(data, quality, engagement, royalties) {
    $("message").hidden = true;
    renderQuality(quality);
    renderEngagement(engagement);
    renderRoyalties(royalties);
    const t = data.totals;
    $("sessions").textContent = t.sessions.toLocaleString("en");
    $("kept").textContent = t.keptSessions.toLocaleString("en");
    $("kept-note").textContent = t.sessions ? percent(t.keptSessions / t.sessions) +
      " of sessions" : "long enough to count";
    const [hours, note] = listened(t.listenedSeconds);
    $("hours").textContent = hours;
    $("hours-note").textContent = note;
    $("share").textContent = percent(t.averageConsumptionShare);
    $("completion").textContent = percent(t.completionRate);
    const unknown = data.clipLengthSeconds === null ? "clip length not reported" : null;
    $("share-note").textContent = unknown || "of " + clock(data.clipLengthSeconds) + " heard";
    $("completion-note").textContent = unknown || "heard to 95% of the clip";
    const span = data.firstDay ? data.firstDay + (data.lastDay !== data.firstDay ? " – " + data.lastDay : "")
                               : "no sessions";
    $("range").textContent = "Sessions started " + span + " (UTC)" +
      (state.from || state.to ? "" : " · all days with sessions") +
      " · " + (data.source ? "source " + data.source : "all sources");
    $("final").textContent = finalThrough(data.completeThrough);
    renderSources(data);
    renderCurve(data);
    const pointSeconds = data.pointBuckets * data.bucketSeconds;
    $("footer").textContent = "Bucket " + data.bucketSeconds + " s" +
      (data.pointBuckets > 1 ? " · each point shows the peak of " + clock(pointSeconds) : "") +
      (data.clipLengthSeconds ? " · clip length " + clock(data.clipLengthSeconds) : "") +
      (data.curveTruncated ? " · the curve stops at " + clock(data.curveEndSeconds) +
                             ", the longest clip accepted" : "") +
      " · sessions under the minimum length are counted but not in the curve";
    window.playheadDashboard = { chart: chart, data: data, quality: quality,
                                 engagement: engagement, royalties: royalties };
    document.body.dataset.state = "ready";
  }

  // The complete-through watermark: figures of sessions started before it are final.
  // Shown to the minute, rounded down, so the page never claims more than the API.
  function finalThrough(stamp) {
    if (!stamp) return "No figure is final yet: late events may still change any of them";
    const shown = stamp.slice(0, 10) + " " + stamp.slice(11, 16) + " UTC";
    return "Final through " + shown + ": figures of sessions started before it will not change";
  }

  function renderSources(data) {
    const select = $("source");
    const known = new Set(Array.from(select.options).map((o) => o.value));
    for (const s of data.sources) {
      if (!known.has(s.source)) select.add(new Option(s.source, s.source));
    }
    select.value = state.source;
    const body = $("sources");
    body.replaceChildren();
    const most = Math.max(...data.sources.map((s) => s.listenedHours), 1e-9);
    for (const s of data.sources) {
      const row = body.insertRow();
      row.dataset.source = s.source;
      if (s.source === state.source) row.className = "selected";
      const name = row.insertCell();
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      name.append(swatch, s.source);
      for (const value of [s.sessions.toLocaleString("en"), s.keptSessions.toLocaleString("en"),
                           s.listenedHours.toFixed(2)]) {
        const cell = row.insertCell();
        cell.className = "num";
        cell.textContent = value;
      }
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.width = Math.max(2, (100 * s.listenedHours) / most) + "%";
      row.insertCell().append(bar);
      row.addEventListener("click", () => {
        state.source = state.source === s.source ? "" : s.source;
        load();
      });
    }
  }

  function renderCurve(data) {
    const points = data.histogram.map((p) => ({ x: p.startSeconds, y: p.shareOfSessions * 100,
                                                listeners: p.listeners, listens: p.listens }));
    // The API's timeline: to the last heard bucket or the clip's end, never past the
    // longest clip accepted, so a wild length reported by one player cannot squash it.
    const end = data.curveEndSeconds || 1;
    const pointSeconds = data.pointBuckets * data.bucketSeconds;
    const peak = data.pointBuckets > 1 ? "peak " : "";
    // Each point holds its value until the next one starts (step-after); one more
    // point at the end draws the last one to its end. It is marked, not data.
    if (points.length) {
      const lastPoint = points[points.length - 1];
      points.push({ x: end, y: lastPoint.y, listeners: lastPoint.listeners,
                    listens: lastPoint.listens, end: true });
    }
    const context = $("curve").getContext("2d");
    const fill = context.createLinearGradient(0, 0, 0, 340);
    fill.addColorStop(0, "rgba(79, 70, 229, 0.35)");
    fill.addColorStop(1, "rgba(79, 70, 229, 0.02)");
    if (chart) chart.destroy();
    chart = new window.Chart(context, {
      type: "line",
      data: { datasets: [{ label: "Share of kept sessions", data: points, parsing: false,
                           stepped: "after", borderColor: "#4f46e5", borderWidth: 2,
                           backgroundColor: fill, fill: "origin", pointRadius: 0,
                           pointHoverRadius: 4 }] },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        scales: {
          x: { type: "linear", min: 0, max: end, title: { display: true, text: "position in the clip" },
               ticks: { callback: (v) => clock(v), stepSize: tickStep(end), autoSkip: false },
               grid: { color: "#eef0f4" } },
          y: { min: 0, max: 100, title: { display: true, text: "% of kept sessions" },
               ticks: { callback: (v) => v + "%" }, grid: { color: "#eef0f4" } },
        },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: {
            title: (items) => clock(items[0].parsed.x) + (data.pointBuckets > 1
              ? "–" + clock(Math.min(items[0].parsed.x + pointSeconds, end)) : ""),
            label: (item) => item.parsed.y.toFixed(1) + "% · " + peak + item.raw.listeners +
                             " listeners, " + peak + item.raw.listens + " listens",
          } },
        },
      },
    });
  }

  // Ticks on round times (10 s, 1 min, 5 min, ...), at most about a dozen of them.
  function tickStep(end) {
    const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
    return steps.find((step) => end / step <= 12) || 3600 * Math.ceil(end / 43200);
  }

  function daysAgo(days) {
    const d = new Date(Date.now() - days * 86400000);
    return d.toISOString().slice(0, 10);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("clip").textContent = clipId;
    document.title = "Playhead · " + clipId;
    $("from").value = state.from;
    $("to").value = state.to;
    $("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      state.from = $("from").value;
      state.to = $("to").value;
      state.source = $("source").value;
      load();
    });
    for (const button of document.querySelectorAll(".quick button")) {
      button.addEventListener("click", () => {
        const days = Number(button.dataset.days);
        state.from = days ? daysAgo(days - 1) : "";
        state.to = days ? daysAgo(0) : "";
        $("from").value = state.from;
        $("to").value = state.to;
        load();
      });
    }
    load();
  });
})();
