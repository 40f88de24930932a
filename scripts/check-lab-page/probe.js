// Appended to a copy of the lab's index.html by check-lab-page.sh: after
// layout, records where each plot, the claims table and its rows are on
// the page and whether they can be seen, into <pre id="probe-result">
// (base64 JSON), which chromium --dump-dom then prints.
(function () {
  function seen(el) {
    if (!el) return { present: false };
    el.scrollIntoView({ block: "center" });
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    let shown = s.display !== "none" && s.visibility === "visible";
    for (let a = el; a && a.nodeType === 1; a = a.parentElement) {
      if (parseFloat(getComputedStyle(a).opacity) === 0) shown = false;
    }
    return {
      present: true,
      w: Math.round(r.width),
      h: Math.round(r.height),
      shown: shown,
      on_top: !!hit && (hit === el || el.contains(hit)),
    };
  }
  const out = { plots: [], rows: [] };
  document.querySelectorAll("figure.plot").forEach(function (f) {
    const svg = f.querySelector("svg");
    const cap = f.querySelector("figcaption");
    out.plots.push(Object.assign(
      { file: f.dataset.plot, lines: svg ? svg.querySelectorAll("polyline").length : 0,
        caption: cap ? cap.innerText : "", caption_box: seen(cap) },
      seen(svg)));
  });
  const table = document.getElementById("claims-table");
  out.claims = seen(table);
  if (table) {
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      const v = tr.querySelector(".verdict");
      out.rows.push(Object.assign({ id: tr.dataset.claim, verdict: v ? v.innerText.trim() : "" }, seen(tr)));
    });
  }
  out.advice = seen(document.getElementById("advice-table"));
  out.machine = seen(document.getElementById("machine-block"));
  const pre = document.createElement("pre");
  pre.id = "probe-result";
  pre.textContent = btoa(unescape(encodeURIComponent(JSON.stringify(out))));
  document.body.appendChild(pre);
})();
