"use strict";
// The report's timeline: a canvas redrawn from the embedded data on every
// zoom or pan, and a few DOM labels (time axis, faults, lanes) on top.
// Only visible operations are drawn, found by binary search per lane, so
// the cost of a frame follows what is on screen, not the history's length.
(function () {
  const started = performance.now();
  const D = JSON.parse(document.getElementById("data").textContent);
  const ops = D.ops, n = ops.call.length;
  const END = Math.max(D.end, 1);
  const canvas = document.getElementById("canvas");
  const overlay = document.getElementById("overlay");
  const tip = document.getElementById("tip");
  const ctx = canvas.getContext("2d");

  // Layout, in CSS pixels.
  const LEFT = 120, AXIS = 22, FAULT_ROW = 16, FAULT_ROWS = D.faults.length ? 3 : 0;
  const MEMBER_LANE = 26, CLIENT_LANE = 20, GAP = 8;
  const faultTop = AXIS, membersTop = AXIS + FAULT_ROWS * FAULT_ROW + 4;
  const clientsTop = membersTop + D.members.length * MEMBER_LANE + GAP;
  const height = clientsTop + D.lanes.length * CLIENT_LANE + 6;
  const MEMBER_COLOURS = ["#8e24aa", "#00897b", "#f4511e", "#3949ab", "#c0ca33", "#6d4c41", "#d81b60"];
  const memberColour = (m) => MEMBER_COLOURS[m % MEMBER_COLOURS.length];

  // Operations per lane, by call time; the longest in each lane bounds the
  // binary search for the first visible one.
  const byLane = D.lanes.map(() => []);
  const longest = D.lanes.map(() => 0);
  const retOf = (i) => (ops.ret[i] < 0 ? END : ops.ret[i]);
  for (let i = 0; i < n; i++) {
    const l = ops.lane[i];
    byLane[l].push(i);
    longest[l] = Math.max(longest[l], retOf(i) - ops.call[i]);
  }
  const failing = new Set(D.failing);
  const witnesses = new Set(D.witnesses);
  const order = new Map(D.prefix.map((op, k) => [op, k + 1]));

  // Member lanes as segments of one state each: role, down or paused.
  const segments = D.members.map(() => []);
  const marks = D.members.map(() => []);
  {
    const state = D.members.map(() => ({ from: 0, kind: "unknown", term: 0, label: "" }));
    const close = (m, t, next) => {
      const s = state[m];
      if (t > s.from) segments[m].push({ from: s.from, to: t, kind: s.kind, label: s.label, term: s.term });
      state[m] = Object.assign({ from: t, term: s.term }, next);
    };
    const events = D.events.slice().sort((a, b) => a.t - b.t);
    for (const e of events) {
      if (e.m === null || e.m === undefined) continue;
      const s = state[e.m];
      if (e.kind === "role") {
        if (s.kind === "down" || s.kind === "paused") { s.term = e.term; s.after = e; continue; }
        close(e.m, e.t, { kind: e.role, term: e.term, label: e.role.replace("_", "-") + " t" + e.term });
      } else if (e.kind === "crash") {
        close(e.m, e.t, { kind: "down", label: "down" });
        marks[e.m].push(e);
      } else if (e.kind === "pause") {
        close(e.m, e.t, { kind: "paused", label: "paused" });
        marks[e.m].push(e);
      } else if (e.kind === "restart" || e.kind === "resume") {
        const back = s.after;
        close(e.m, e.t, back ? { kind: back.role, term: back.term, label: back.role + " t" + back.term }
          : { kind: "unknown", label: "" });
        marks[e.m].push(e);
      } else {
        marks[e.m].push(e);
      }
    }
    D.members.forEach((_, m) => close(m, END, {}));
  }
  const SEGMENT_COLOURS = {
    leader: "#1e63b5", candidate: "#f0b43c", pre_candidate: "#f7d58b", follower: "#cfe0f3",
    down: "#444", paused: "#9e9e9e", unknown: "#f1f1f1",
  };

  // The view: [t0, t1] microseconds across the canvas's width.
  let t0 = 0, t1 = END, width = 800, selected = -1, hovered = -1;
  const showPrefix = document.getElementById("show-prefix");
  const xOf = (t) => LEFT + ((t - t0) / (t1 - t0)) * (width - LEFT - 8);
  const tOf = (x) => t0 + ((x - LEFT) / (width - LEFT - 8)) * (t1 - t0);

  function resize() {
    width = Math.max(400, document.getElementById("timeline").clientWidth);
    const dpr = window.devicePixelRatio || 1;
    canvas.width = width * dpr;
    canvas.height = height * dpr;
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  function fmt(us, step) {
    const s = us / 1e6;
    const digits = step >= 1e6 ? 0 : step >= 1e5 ? 1 : step >= 1e4 ? 2 : step >= 1e3 ? 3 : 6;
    return s.toFixed(digits) + "s";
  }

  function tickStep() {
    const target = (t1 - t0) / Math.max(2, Math.floor((width - LEFT) / 90));
    const p = Math.pow(10, Math.floor(Math.log10(Math.max(target, 1))));
    for (const m of [1, 2, 5, 10]) if (p * m >= target) return p * m;
    return p * 10;
  }

  // First operation of `lane` that may reach into [t0, ...].
  function firstVisible(lane) {
    const list = byLane[lane], from = t0 - longest[lane];
    let lo = 0, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ops.call[list[mid]] < from) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  function laneY(lane) { return clientsTop + lane * CLIENT_LANE; }

  function draw() {
    ctx.clearRect(0, 0, width, height);
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    const step = tickStep();
    // Grid.
    ctx.strokeStyle = "#eee";
    ctx.beginPath();
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      const x = Math.round(xOf(t)) + 0.5;
      ctx.moveTo(x, AXIS); ctx.lineTo(x, height);
    }
    ctx.stroke();
    // Lanes' backgrounds.
    D.lanes.forEach((_, l) => {
      if (l % 2) { ctx.fillStyle = "#f7f7f7"; ctx.fillRect(0, laneY(l), width, CLIENT_LANE); }
    });
    ctx.fillStyle = "#ddd";
    ctx.fillRect(0, clientsTop - GAP / 2 - 1, width, 1);
    // Faults: bands across every lane, and a bar in their label row.
    const rows = faultRows();
    D.faults.forEach((f, k) => {
      const a = Math.max(LEFT, xOf(f.start)), b = Math.min(width, xOf(f.end < 0 ? END : f.end));
      if (b < LEFT || a > width) return;
      ctx.fillStyle = "rgba(229, 57, 53, 0.10)";
      ctx.fillRect(a, membersTop, Math.max(1, b - a), height - membersTop);
      if (rows[k] >= 0) {
        ctx.fillStyle = "rgba(229, 57, 53, 0.35)";
        ctx.fillRect(a, faultTop + rows[k] * FAULT_ROW + 2, Math.max(2, b - a), FAULT_ROW - 4);
      }
    });
    drawMembers();
    drawOperations();
    if (showPrefix.checked) drawPrefix();
    // The label column stays clear.
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, LEFT - 2, height);
    ctx.fillStyle = "#ddd";
    ctx.fillRect(LEFT - 2, AXIS, 1, height - AXIS);
    for (let m = 0; m < D.members.length; m++) {
      ctx.fillStyle = memberColour(m);
      ctx.fillRect(LEFT - 10, membersTop + m * MEMBER_LANE + 6, 6, MEMBER_LANE - 12);
    }
    labels(step, rows);
  }

  function drawMembers() {
    D.members.forEach((_, m) => {
      const y = membersTop + m * MEMBER_LANE + 3, h = MEMBER_LANE - 6;
      for (const s of segments[m]) {
        const a = Math.max(LEFT, xOf(s.from)), b = Math.min(width, xOf(s.to));
        if (b < LEFT || a > width) continue;
        ctx.fillStyle = SEGMENT_COLOURS[s.kind] || "#eee";
        ctx.fillRect(a, y, Math.max(1, b - a), h);
        if (b - a > 50 && s.label) {
          ctx.fillStyle = s.kind === "leader" || s.kind === "down" ? "#fff" : "#234";
          ctx.fillText(s.label, a + 4, y + h / 2, b - a - 8);
        }
      }
      for (const e of marks[m]) {
        const x = xOf(e.t);
        if (x < LEFT || x > width) continue;
        ctx.fillStyle = { crash: "#d50000", restart: "#2e7d32", snapshot: "#111", wal: "#ef6c00" }[e.kind] || "#555";
        const glyph = { crash: "✕", restart: "▲", snapshot: "◆", wal: "!", pause: "‖", resume: "▶" }[e.kind] || "•";
        ctx.fillText(glyph, x - 4, y + h / 2);
      }
    });
  }

  function drawOperations() {
    const pxPerUs = (width - LEFT - 8) / (t1 - t0);
    // Names of narrow evidence bars, drawn over everything else at the end.
    const names = [];
    for (let l = 0; l < D.lanes.length; l++) {
      const y = laneY(l) + 3, h = CLIENT_LANE - 6, list = byLane[l];
      let lastX = -1;
      for (let k = firstVisible(l); k < list.length; k++) {
        const i = list[k];
        if (ops.call[i] > t1) break;
        const ret = retOf(i);
        if (ret < t0) continue;
        const a = Math.max(LEFT, xOf(ops.call[i])), b = Math.min(width, xOf(ret));
        const w = Math.max(2, b - a);
        // Zoomed far out, many operations share a pixel: draw one.
        if (a + w <= lastX && !failing.has(i) && !witnesses.has(i)) continue;
        lastX = a + w;
        ctx.fillStyle = ops.status[i] === 0 ? "#3a9d6a" : ops.status[i] === 1 ? "#bdbdbd" : "#e3ad33";
        ctx.fillRect(a, y, w, h);
        if (ops.member[i] >= 0 && w > 3) {
          ctx.fillStyle = memberColour(ops.member[i]);
          ctx.fillRect(a, y + h - 3, w, 3);
        }
        const marked = failing.has(i) || witnesses.has(i);
        if (marked || i === selected || i === hovered) {
          ctx.strokeStyle = i === selected ? "#000" : failing.has(i) ? "#d50000" : witnesses.has(i) ? "#8e24aa" : "#555";
          ctx.lineWidth = marked ? 2.5 : 1.5;
          if (witnesses.has(i) && !failing.has(i) && i !== selected) ctx.setLineDash([4, 2]);
          ctx.strokeRect(a - 1, y - 1, w + 2, h + 2);
          ctx.setLineDash([]);
          ctx.lineWidth = 1;
        }
        if (w <= 60 && (failing.has(i) || witnesses.has(i))) {
          names.push([i, a + w, y]);
        } else if (w > 60 && pxPerUs > 0) {
          ctx.fillStyle = "#fff";
          let text = "#" + i + " " + ops.req[i];
          if (ops.member[i] >= 0) text += " @" + D.members[ops.member[i]];
          if (ops.rev[i] >= 0) text += " r" + ops.rev[i];
          ctx.fillText(text, a + 3, y + h / 2 - 1, w - 6);
        }
      }
    }
    ctx.font = "bold 10px system-ui, sans-serif";
    for (const [i, x, y] of names) {
      const label = "#" + i, lw = ctx.measureText(label).width;
      ctx.fillStyle = "rgba(255, 255, 255, 0.9)";
      ctx.fillRect(x + 2, y - 4, lw + 2, 12);
      ctx.fillStyle = failing.has(i) ? "#d50000" : "#8e24aa";
      ctx.fillText(label, x + 3, y + 2);
    }
    ctx.font = "11px system-ui, sans-serif";
  }

  function drawPrefix() {
    if (!D.prefix.length) return;
    const visible = D.prefix.filter((i) => ops.call[i] <= t1 && retOf(i) >= t0);
    if (visible.length > 400) return; // too dense to read: zoom in
    const centre = (i) => [(Math.max(LEFT, xOf(ops.call[i])) + Math.min(width, xOf(retOf(i)))) / 2, laneY(ops.lane[i]) + CLIENT_LANE / 2];
    ctx.strokeStyle = "rgba(21, 101, 192, 0.55)";
    ctx.beginPath();
    visible.forEach((i, k) => { const [x, y] = centre(i); if (k) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
    ctx.stroke();
    ctx.font = "bold 10px system-ui, sans-serif";
    ctx.textAlign = "center";
    for (const i of visible) {
      const [x, y] = centre(i);
      ctx.fillStyle = "#1565c0";
      ctx.beginPath(); ctx.arc(x, y, 7, 0, 2 * Math.PI); ctx.fill();
      ctx.fillStyle = "#fff";
      ctx.fillText(String(order.get(i)), x, y + 0.5, 13);
    }
    ctx.textAlign = "left";
    ctx.font = "11px system-ui, sans-serif";
  }

  // Rows for the fault labels, so that visible labels do not overlap.
  function faultRows() {
    const ends = new Array(FAULT_ROWS).fill(-Infinity);
    return D.faults.map((f) => {
      const a = Math.max(LEFT, xOf(f.start)), b = xOf(f.end < 0 ? END : f.end);
      if (b < LEFT || a > width) return -1;
      const w = Math.max(b - a, 7 * (f.name.length + f.detail.length + 2));
      for (let r = 0; r < FAULT_ROWS; r++) {
        if (ends[r] < a) { ends[r] = a + w; return r; }
      }
      return -1;
    });
  }

  function labels(step, rows) {
    const html = [];
    const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/"/g, "&quot;");
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      const x = xOf(t);
      if (x >= LEFT + 15 && x <= width - 15) html.push(`<div class="tick" style="left:${x}px">${fmt(t, step)}</div>`);
    }
    D.faults.forEach((f, k) => {
      if (rows[k] < 0) return;
      const a = Math.max(LEFT, xOf(f.start));
      const end = f.end < 0 ? "the end" : fmt(f.end, 1000);
      const text = `${f.name}: ${f.detail}`;
      html.push(`<div class="fault-label" style="left:${a}px;top:${faultTop + rows[k] * FAULT_ROW}px;max-width:${width - a}px" title="${esc(text)} (${fmt(f.start, 1000)} to ${end})">${esc(text)}</div>`);
    });
    if (FAULT_ROWS) html.push(`<div class="lane" style="top:${faultTop + 2}px">faults</div>`);
    D.members.forEach((name, m) => {
      html.push(`<div class="lane member" style="top:${membersTop + m * MEMBER_LANE + 5}px">${esc(name)} <small>member</small></div>`);
    });
    D.lanes.forEach((c, l) => {
      html.push(`<div class="lane client" style="top:${laneY(l) + 2}px">client ${c}</div>`);
    });
    html.push(`<div class="lane" style="top:3px;color:#999">simulated time →</div>`);
    overlay.innerHTML = html.join("");
  }

  // The operation under (x, y), if any.
  function opAt(x, y) {
    if (y < clientsTop || x < LEFT) return -1;
    const l = Math.floor((y - clientsTop) / CLIENT_LANE);
    if (l < 0 || l >= D.lanes.length) return -1;
    const t = tOf(x), slop = (2 / (width - LEFT)) * (t1 - t0);
    const list = byLane[l];
    let best = -1;
    for (let k = firstVisible(l); k < list.length; k++) {
      const i = list[k];
      if (ops.call[i] > t + slop) break;
      if (retOf(i) + slop >= t) best = i;
    }
    return best;
  }

  // The member event nearest to (x, y) in a member lane, if close.
  function memberAt(x, y) {
    if (y < membersTop || y >= membersTop + D.members.length * MEMBER_LANE || x < LEFT) return null;
    const m = Math.floor((y - membersTop) / MEMBER_LANE), t = tOf(x);
    const seg = segments[m].find((s) => s.from <= t && t <= s.to);
    const near = marks[m].filter((e) => Math.abs(xOf(e.t) - x) < 6);
    const lines = [D.members[m] + " at " + fmt(t, 1)];
    if (seg) lines.push(seg.kind === "down" ? "down" : seg.kind === "paused" ? "paused" : `${seg.kind.replace("_", "-")} in term ${seg.term} (${fmt(seg.from, 1)} to ${fmt(seg.to, 1)})`);
    for (const e of near) lines.push(fmt(e.t, 1) + " " + e.text);
    return lines.join("\n");
  }

  function describe(i) {
    const ret = ops.ret[i] < 0 ? "never returned" : fmt(ops.ret[i], 1);
    const lines = [
      `#${i}  client ${D.lanes[ops.lane[i]]}  ${fmt(ops.call[i], 1)} → ${ret}`,
      `request:  ${ops.req[i]}`,
      `response: ${ops.res[i]}`,
      `served by: ${ops.member[i] >= 0 ? D.members[ops.member[i]] + " (term " + ops.term[i] + ")" : "unknown"}` +
        (ops.rev[i] >= 0 ? `   revision ${ops.rev[i]}` : ""),
    ];
    if (failing.has(i)) lines.push("part of the evidence of the violation");
    if (witnesses.has(i)) lines.push("named by a broken check's evidence (below)");
    if (order.has(i)) lines.push(`linearized as number ${order.get(i)} of the longest prefix`);
    return lines.join("\n");
  }

  function showTip(text, x, y) {
    if (!text) { tip.hidden = true; return; }
    tip.textContent = text;
    tip.hidden = false;
    const left = Math.min(x + 14, width - 380);
    tip.style.left = Math.max(0, left) + "px";
    tip.style.top = y + 16 + "px";
  }

  function select(i) {
    selected = i;
    document.getElementById("selected").textContent = i >= 0 ? describe(i) : "";
    draw();
  }

  // Centres the view on operation `i` (zoomed to a few times its length)
  // and selects it.
  function jumpTo(i) {
    if (i < 0 || i >= n) return;
    const a = ops.call[i], b = retOf(i);
    const span = Math.max((b - a) * 6, 20000);
    let from = failing.size && failing.has(i) ? Math.min(...[...failing].map((j) => ops.call[j])) : a;
    let to = failing.size && failing.has(i) ? Math.max(...[...failing].map(retOf)) : b;
    if (to - from > END / 2) { from = a; to = b; }
    const mid = (from + to) / 2, half = Math.min(END, Math.max(span, (to - from) * 1.3)) / 2;
    // Keep the whole window inside the run, shifting rather than cutting it.
    t0 = Math.min(Math.max(0, mid - half), END - 2 * half);
    t1 = t0 + Math.max(2 * half, 10);
    select(i);
    document.getElementById("timeline").scrollIntoView({ block: "nearest" });
  }

  function zoom(factor, atX) {
    const t = tOf(atX === undefined ? (LEFT + width) / 2 : atX);
    let a = t - (t - t0) * factor, b = t + (t1 - t) * factor;
    if (b - a < 10) return;
    if (b - a > END) { a = 0; b = END; }
    if (a < 0) { b -= a; a = 0; }
    if (b > END) { a -= b - END; b = END; }
    t0 = Math.max(0, a); t1 = b;
    draw();
  }

  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    zoom(e.deltaY > 0 ? 1.25 : 0.8, e.offsetX);
  }, { passive: false });
  let drag = null;
  canvas.addEventListener("mousedown", (e) => { drag = { x: e.clientX, t0, t1, moved: false }; canvas.classList.add("dragging"); });
  window.addEventListener("mouseup", (e) => {
    if (drag && !drag.moved) select(opAt(e.offsetX, e.offsetY));
    drag = null; canvas.classList.remove("dragging");
  });
  window.addEventListener("mousemove", (e) => {
    if (!drag) return;
    const dt = ((e.clientX - drag.x) / (width - LEFT - 8)) * (drag.t1 - drag.t0);
    if (Math.abs(e.clientX - drag.x) > 2) drag.moved = true;
    let a = drag.t0 - dt, b = drag.t1 - dt;
    if (a < 0) { b -= a; a = 0; }
    if (b > END) { a -= b - END; b = END; }
    t0 = Math.max(0, a); t1 = b;
    draw();
  });
  canvas.addEventListener("mousemove", (e) => {
    if (drag) return;
    const i = opAt(e.offsetX, e.offsetY);
    if (i !== hovered) { hovered = i; draw(); }
    showTip(i >= 0 ? describe(i) : memberAt(e.offsetX, e.offsetY), e.offsetX, e.offsetY);
  });
  canvas.addEventListener("mouseleave", () => { hovered = -1; tip.hidden = true; draw(); });
  document.getElementById("zoom-in").onclick = () => zoom(0.5);
  document.getElementById("zoom-out").onclick = () => zoom(2);
  document.getElementById("fit").onclick = () => { t0 = 0; t1 = END; draw(); };
  document.getElementById("jump").onclick = () => jumpTo(D.focus >= 0 ? D.focus : D.failing[0]);
  showPrefix.onchange = draw;
  document.addEventListener("click", (e) => {
    const a = e.target.closest && e.target.closest("a.opref");
    if (!a) return;
    e.preventDefault();
    jumpTo(Number(a.dataset.op));
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "+" || e.key === "=") zoom(0.8);
    else if (e.key === "-") zoom(1.25);
    else if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
      const dt = (t1 - t0) * 0.2 * (e.key === "ArrowLeft" ? -1 : 1);
      const a = Math.min(Math.max(0, t0 + dt), END - (t1 - t0));
      t1 = a + (t1 - t0); t0 = a; draw();
    }
  });
  window.addEventListener("resize", () => { resize(); draw(); });

  resize();
  draw();
  // A link to `#op-N` (or `#first-violation`) opens the page there.
  const hash = location.hash.match(/^#op-(\d+)$/);
  if (hash) jumpTo(Number(hash[1]));
  else if (location.hash === "#first-violation" && D.focus >= 0) jumpTo(D.focus);
  document.getElementById("status").textContent =
    `rendered ${n} operations in ${Math.round(performance.now() - started)} ms`;
})();
