"""The 通知路由 page against a real notify process beside the console platform: a target added
through the page is the API's; a refusal is shown in notify's words; a failed delivery (its
receiver answered 500) is shown with its reason and sent again by the resend button."""

from __future__ import annotations

import asyncio
import threading

import httpx

from services.notify import store
from services.runtime.db import make_engine, migrate
from tests.alerts.test_integration import headers
from tests.console.conftest import shot
from tests.platform import ServiceProcess, wait_for
from tests.receivers import Receiver


def _in_thread(fn) -> None:
    """Off this thread (what calls asyncio.run): Playwright's loop runs in it while the browser is open."""
    error: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    if error:
        raise error[0]


def test_routing_page_adds_a_target_and_resends_a_failed_delivery(login, platform, tmp_path) -> None:
    settings = platform["settings"].model_copy(update={"notify_max_attempts": 1, "notify_retry_base_s": 0.1})
    treasury = headers(settings, "410000")
    failing = Receiver(None)  # 500 to everything until told otherwise

    async def default_target() -> None:  # before notify starts, so the demo's transitions go to it too
        engine = make_engine(settings.database_url)
        await store.create_target(engine, {"group_code": "*", "channel": "webhook", "target": failing.url,
                                           "secret": None, "levels": [], "categories": [], "rule_ids": [],
                                           "recipients": [], "enabled": True}, "tests")
        await engine.dispose()

    _in_thread(lambda: migrate(settings.database_url, "notify"))
    _in_thread(lambda: asyncio.run(default_target()))
    notify = ServiceProcess("notify", settings, tmp_path).start()
    try:
        notify.wait_healthy()
        base = settings.url("notify")

        def failed() -> dict:
            return httpx.get(f"{base}/v1/deliveries", params={"status": "failed", "limit": 5}, headers=treasury,
                             timeout=30).json()

        wait_for(lambda: failed()["total"] >= 1, 180, "a failed delivery", notify)

        page = login("guoku")
        page.goto(f"{platform['url']}/routing")
        page.wait_for_selector("#targets h3[data-group='*']")
        assert "通用 Webhook" in page.inner_text("#targets")

        # a refusal, in notify's words
        form = page.locator("#add-target")
        form.locator("input[name=group_code]").fill("*")
        form.locator("select[name=channel]").select_option("wecom")
        form.locator("input[name=target]").fill("not a url")
        form.locator("button[type=submit]").click()
        page.wait_for_selector("#refusal")
        assert "URL" in page.inner_text("#refusal") and "通知服务拒绝" in page.inner_text("#refusal")

        # a robot for red alerts of two rules, @ one mobile
        form = page.locator("#add-target")
        form.locator("input[name=group_code]").fill("*")
        form.locator("select[name=channel]").select_option("wecom")
        form.locator("input[name=target]").fill("http://127.0.0.1:9/cgi-bin/webhook/send")
        form.locator("input[name=levels][value=red]").check()
        form.locator("input[name=categories][value='fund usage']").check()
        form.locator("input[name=rule_ids]").fill("USE-05, BEN-01")
        form.locator("input[name=recipients]").fill("13800000000")
        form.locator("button[type=submit]").click()
        page.wait_for_selector("#saved")
        [robot] = [t for t in httpx.get(f"{base}/v1/targets", headers=treasury, timeout=30).json()
                   if t["channel"] == "wecom"]
        assert (robot["group_code"], robot["levels"], robot["categories"], robot["rule_ids"], robot["recipients"]) \
            == ("*", ["red"], ["fund usage"], ["USE-05", "BEN-01"], ["13800000000"])
        assert robot["updated_by"] == "guoku"
        row = page.locator(f"#target-{robot['id']}")
        assert "企业微信机器人" in row.inner_text() and "红灯" in row.inner_text() and "资金使用" in row.inner_text()

        # the failed delivery, its reason, and the resend button
        first = page.locator("#failed tbody tr").first
        delivery_id = int(first.get_attribute("id").removeprefix("delivery-"))
        assert "500" in first.locator(".reason").inner_text()
        shot(page, "routing-guoku")
        failing.fail_first = 0  # the receiver is fixed
        first.locator("button.resend").click()
        page.wait_for_selector("#saved")

        def delivered() -> bool:
            items = httpx.get(f"{base}/v1/deliveries", params={"status": "delivered", "limit": 500},
                              headers=treasury, timeout=30).json()["items"]
            return any(d["id"] == delivery_id for d in items)

        wait_for(delivered, 120, "the resent delivery delivered", notify)
        assert failing.accepted
        page.reload()
        assert page.locator(f"#delivery-{delivery_id}").count() == 0
    finally:
        notify.stop()
        failing.close()
