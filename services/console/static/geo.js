// The 地区 page's map (vendored GeoJSON, coloured by spending progress or open alerts, a click
// drills down) and the 资金追溯 Sankey. Every figure shown is text the server formatted.
"use strict";

function jsonOf(id) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : null;
}

const MAP_MODES = {
  progress: { title: "支出进度", value: (it) => it.progress, min: () => 0, max: () => 100,
    colors: ["#e03131", "#fab005", "#2f9e44"], text: () => ["100%", "0%"] },
  alerts: { title: "未办结预警", value: (it) => it.open, min: () => 0,
    max: (items) => Math.max(1, ...items.map((it) => it.open)), colors: ["#f1f3f5", "#ffa8a8", "#c92a2a"],
    text: (items) => [`${Math.max(1, ...items.map((it) => it.open))} 条`, "0"] },
};

function regionMap() {
  const el = document.getElementById("region-map"), d = jsonOf("map-data");
  if (!el || !d || typeof echarts === "undefined") return;
  fetch(el.dataset.src, { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(String(r.status)))))
    .then((geo) => {
      const mapName = "fw-" + d.code;
      echarts.registerMap(mapName, geo);
      const names = {};
      geo.features.forEach((f) => { names[f.properties.adcode] = f.properties.name; });
      const byCode = {};
      d.items.forEach((it) => { byCode[it.code] = it; });
      const chart = echarts.init(el, null, { renderer: "svg" });
      function draw(mode) {
        const m = MAP_MODES[mode];
        chart.setOption({
          animation: false,
          tooltip: { trigger: "item", formatter: (p) => {
            const it = byCode[p.name];
            if (!it) return (names[p.name] || p.name) + "<br>无数据";
            return `<b>${it.name}</b><br>支出进度：${it.progress_text}<br>已支付：${it.paid_text}` +
              `<br>未办结预警：${it.open}（红灯 ${it.red}，黄灯 ${it.yellow}）`;
          } },
          visualMap: { type: "continuous", min: m.min(d.items), max: m.max(d.items), text: m.text(d.items), calculable: false,
            inRange: { color: m.colors }, left: 10, bottom: 10, itemHeight: 100 },
          series: [{ type: "map", map: mapName, nameProperty: "adcode", roam: false, selectedMode: false,
            label: { show: true, fontSize: 10, color: "#868e96", formatter: (p) => names[p.name] || p.name },
            emphasis: { label: { show: true }, itemStyle: { areaColor: "#74c0fc" } },
            itemStyle: { areaColor: "#e9ecef", borderColor: "#fff", borderWidth: 1 },
            data: d.items.map((it) => ({ name: it.code, value: m.value(it), href: it.href,
              label: { fontSize: 12, fontWeight: "bold", color: "#1f2d3d" } })) }],
        }, true);
        el.dataset.mode = mode;
        document.querySelectorAll("#map-mode button").forEach((b) => b.classList.toggle("on", b.dataset.mode === mode));
      }
      chart.on("click", (p) => { const it = byCode[p.name]; if (it) location.href = it.href; });
      document.querySelectorAll("#map-mode button").forEach((b) => b.addEventListener("click", () => draw(b.dataset.mode)));
      draw(new URLSearchParams(location.search).get("map") === "alerts" ? "alerts" : "progress");
      el.dataset.ready = "1";
      window.addEventListener("resize", () => chart.resize());
    })
    .catch((e) => { el.outerHTML = `<p class="warn" id="map-missing">地图数据加载失败（${e.message}），请使用右侧表格。</p>`; });
}

const FLOW_COLORS = { top: "#b3212b", indicator: "#5b8ff9", transfer: "#f6bd16", payment: "#2f9e44", payee: "#2f9e44" };

function traceSankey() {
  const el = document.getElementById("sankey"), d = jsonOf("flow-data");
  if (!el || !d || typeof echarts === "undefined") return;
  const byName = {};
  d.nodes.forEach((n) => { byName[n.name] = n; });
  const chart = echarts.init(el, null, { renderer: "svg" });
  chart.setOption({
    animation: false,
    tooltip: { trigger: "item", formatter: (p) => p.dataType === "edge"
      ? `${byName[p.data.source].text.split("\n")[0]} → ${byName[p.data.target].text.split("\n")[0]}<br>` +
        (p.data.label ? p.data.label.replace(/\n/g, " · ") : p.data.text)
      : byName[p.name].text.replace(/\n/g, "<br>") },
    series: [{ type: "sankey", left: 10, right: 240, top: 40, bottom: 20, nodeWidth: 14, nodeGap: 18,
      layoutIterations: 0, draggable: false, emphasis: { focus: "adjacency" },
      label: { fontSize: 12, lineHeight: 16, formatter: (p) => byName[p.name].text,
        backgroundColor: "rgba(255,255,255,.85)", padding: [2, 4], borderRadius: 3, width: 210, overflow: "break" },
      lineStyle: { color: "gradient", opacity: 0.35 },
      data: d.nodes.map((n) => ({ name: n.name, itemStyle: { color: FLOW_COLORS[n.kind] || "#5b8ff9" } })),
      links: d.links.map((l) => ({ source: l.source, target: l.target, value: l.value, text: l.text, label: l.label })) }],
  });
  chart.on("click", (p) => { const n = p.dataType === "node" && byName[p.name]; if (n && n.href) location.href = n.href; });
  el.dataset.ready = "1";
  window.addEventListener("resize", () => chart.resize());
}

document.addEventListener("DOMContentLoaded", () => { regionMap(); traceSankey(); });
