// The console's few live parts: charts (ECharts, served locally), the alert inbox refreshing
// itself, and a filed disposition watched until the state machine has decided.
"use strict";

function chartData() {
  const el = document.getElementById("chart-data");
  return el ? JSON.parse(el.textContent) : {};
}

function yuanAxis(v) { return v >= 1e8 ? (v / 1e8).toFixed(1) + "亿" : v >= 1e4 ? (v / 1e4).toFixed(0) + "万" : v; }

function drawCharts() {
  if (typeof echarts === "undefined") return;
  const data = chartData();
  document.querySelectorAll("[data-chart]").forEach((el) => {
    const kind = el.dataset.chart, d = data[kind];
    if (!d) return;
    const chart = echarts.init(el, null, { renderer: "svg" });
    let option;
    if (kind === "levels") {
      option = { tooltip: { trigger: "axis" }, legend: { data: ["资金规模", "已支付"] }, grid: { left: 60, right: 10, top: 30, bottom: 25 },
        xAxis: { type: "category", data: d.names }, yAxis: { type: "value", axisLabel: { formatter: yuanAxis } },
        series: [{ name: "资金规模", type: "bar", data: d.scale.map(Number), itemStyle: { color: "#5b8ff9" } },
                 { name: "已支付", type: "bar", data: d.paid.map(Number), itemStyle: { color: "#5ad8a6" } }] };
    } else if (kind === "trend") {
      option = { tooltip: { trigger: "axis" }, grid: { left: 60, right: 10, top: 20, bottom: 25 },
        xAxis: { type: "category", data: d.months }, yAxis: { type: "value", axisLabel: { formatter: yuanAxis } },
        series: [{ name: "支付金额（元）", type: "line", smooth: true, areaStyle: { opacity: 0.15 }, data: d.paid.map(Number) }] };
    } else if (kind === "regions") {
      option = { tooltip: { trigger: "axis", valueFormatter: (v) => v + "%" }, grid: { left: 90, right: 20, top: 10, bottom: 25 },
        xAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
        yAxis: { type: "category", data: d.names.slice().reverse() },
        series: [{ name: "支出进度", type: "bar", data: d.progress.map((p) => +(Number(p) * 100).toFixed(1)).reverse(), itemStyle: { color: "#f6bd16" } }] };
    }
    chart.setOption(option);
    window.addEventListener("resize", () => chart.resize());
  });
}

function liveInbox() {
  const live = document.getElementById("live"), rows = document.getElementById("alert-rows");
  if (!live || !rows) return;
  async function refresh() {
    try {
      const r = await fetch(live.dataset.src, { headers: { "x-fragment": "1" }, credentials: "same-origin" });
      if (r.status === 401) { live.textContent = "● 登录已过期，请刷新页面"; live.classList.add("stale"); return; }
      if (r.ok) {
        rows.innerHTML = await r.text();
        const t = new Date();
        live.textContent = "● 实时更新 " + t.toLocaleTimeString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
        live.classList.remove("stale");
      }
    } catch (e) { live.textContent = "● 连接中断，稍后重试"; live.classList.add("stale"); }
    setTimeout(refresh, 5000);
  }
  setTimeout(refresh, 5000);
}

function watchDisposition() {
  // Wait for the end state, not for a time: the disposition decided (applied or refused) and, when applied,
  // the alert's read model holding its transition; only then reload, so the page never shows the level from
  // before. Gives up with a message after WATCH_LIMIT_MS (the worker or the broker may be down).
  const box = document.getElementById("pending");
  if (!box) return;
  const WATCH_LIMIT_MS = 180000;
  const started = Date.now();
  let wait = 1000;
  const get = async (url) => {
    const r = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    return r.ok ? r.json() : null;
  };
  async function check() {
    try {
      const d = await get("/dispositions/" + encodeURIComponent(box.dataset.watch));
      if (d && d.status === "refused") { location.reload(); return; }
      if (d && d.status === "applied" && d.transition_id) {
        const seq = parseInt(d.transition_id.split(".").pop(), 10);
        const a = await get("/alerts/" + encodeURIComponent(box.dataset.alert) + "/state");
        if (a && a.transitions >= seq) { location.reload(); return; }
        box.textContent = "处理单 " + box.dataset.watch + " 已生效，正在等待预警状态更新…";
      }
    } catch (e) { /* the console restarting or the network: ask again */ }
    if (Date.now() - started > WATCH_LIMIT_MS) {
      box.className = "alert-box warn";
      box.id = "pending-timeout";
      box.textContent = "处理单 " + box.dataset.watch + " 已提交，但 3 分钟内未见处理结果（状态机或消息服务可能繁忙）。";
      const again = document.createElement("a");
      again.href = location.pathname; again.textContent = "刷新页面查看";
      box.appendChild(again);
      return;
    }
    wait = Math.min(wait * 1.5, 5000);
    setTimeout(check, wait);
  }
  setTimeout(check, wait);
}

function showChosenFiles() {
  // the browser's own file button speaks the browser's language: the page names the chosen files itself
  const input = document.getElementById("files"), names = document.getElementById("file-names");
  if (!input || !names) return;
  input.addEventListener("change", () => {
    const chosen = Array.from(input.files).map((f) => f.name);
    names.textContent = chosen.length ? "已选择：" + chosen.join("、") : "未选择文件";
  });
}

document.addEventListener("DOMContentLoaded", () => { showChosenFiles(); drawCharts(); liveInbox(); watchDisposition(); });
