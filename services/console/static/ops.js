// 实时监控: the streams' part of the page is fetched again every 3 s (rates need two readings).
"use strict";

function liveMonitor() {
  const status = document.getElementById("monitor-status"), box = document.getElementById("monitor-live");
  if (!status || !box) return;
  async function refresh() {
    try {
      const r = await fetch(status.dataset.src, { headers: { "x-fragment": "1" }, credentials: "same-origin" });
      if (r.status === 401) { status.textContent = "● 登录已过期，请刷新页面"; status.classList.add("stale"); return; }
      if (r.ok) {
        box.innerHTML = await r.text();
        status.textContent = "● 实时更新 " + new Date().toLocaleTimeString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
        status.classList.remove("stale");
      }
    } catch (e) { status.textContent = "● 连接中断，稍后重试"; status.classList.add("stale"); }
    setTimeout(refresh, 3000);
  }
  setTimeout(refresh, 3000);
}

document.addEventListener("DOMContentLoaded", liveMonitor);
