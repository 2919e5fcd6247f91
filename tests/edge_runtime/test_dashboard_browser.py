"""The dashboard end to end in headless Chromium: every page against a running daemon on a real video.

Needs Debian's ``chromium`` and ``chromium-driver`` (.ci/run installs them); screenshots land in
runs/dashboard-e2e/ (git-ignored).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from daemon_helpers import free_port

from edge_runtime.config import load_site_config

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
SHOTS = Path(__file__).parents[2] / "runs" / "dashboard-e2e"
WAIT_S = 30

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the pages' console, checked at the end
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,860"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)  # no driver download
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def _until(driver, condition, message: str):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.wait import WebDriverWait

    # The pages re-render their rows every refresh: an element found a moment ago may be gone; ask again.
    wait = WebDriverWait(
        driver, WAIT_S, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
    )
    return wait.until(lambda d: condition(d), message)


def _text(driver, selector: str) -> str:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, selector)
    return found[0].text if found else ""


def _loaded(driver, selector: str) -> bool:
    return driver.execute_script(
        "const img = document.querySelector(arguments[0]); return !!img && img.complete && img.naturalWidth > 0;",
        selector,
    )


_PIXELS = """
const img = document.querySelector(arguments[0]);
const canvas = document.createElement('canvas');
canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
canvas.getContext('2d').drawImage(img, 0, 0);
return canvas.toDataURL('image/png');
"""


def test_every_page_shows_the_running_daemon_and_updates(start_daemon, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # cam2 is a camera that is down: an RTSP address nothing answers on
    down = {"name": "cam2", "source": f"rtsp://127.0.0.1:{free_port()}/cam", "reconnect": {"max_s": 1}}
    daemon = start_daemon(extra_cameras=(down,))
    browser.get(daemon.url + "/")
    card = ".camera[data-camera=cam1]"
    _until(browser, lambda d: _text(d, f"{card} .processed").isdigit(), "overview shows no camera")
    processed = int(_text(browser, f"{card} .processed"))
    assert _text(browser, f"{card} .state") == "online"
    _until(
        browser, lambda d: int(_text(d, f"{card} .processed") or 0) > processed, "overview does not update"
    )
    _until(browser, lambda d: _loaded(d, f"{card} img"), "no camera thumbnail")
    _until(browser, lambda d: _text(d, "#sinks tbody td") == "jsonl", "no sink")
    dead = ".camera[data-camera=cam2]"
    _until(browser, lambda d: "NO SIGNAL" in _text(d, f"{dead} .thumb"), "a camera down shows no NO SIGNAL")
    assert _text(browser, f"{card} .thumb") == ""  # the live camera shows its picture, no tile
    assert not browser.find_element(By.CSS_SELECTOR, f"{dead} img").is_displayed()  # never its last frame
    browser.save_screenshot(str(SHOTS / "overview.png"))

    browser.get(daemon.url + "/live/cam1")
    _until(browser, lambda d: _loaded(d, "#stream"), "the live view shows no picture")
    first = browser.execute_script(_PIXELS, "#stream")
    _until(browser, lambda d: d.execute_script(_PIXELS, "#stream") != first, "the live view does not move")
    _until(browser, lambda d: _text(d, "#camera-facts .fps") not in ("", "–"), "no live facts")
    browser.save_screenshot(str(SHOTS / "live.png"))

    browser.get(daemon.url + "/live/cam2")
    _until(browser, lambda d: "NO SIGNAL" in _text(d, ".live .picture"), "the live view of a dead camera")
    assert not browser.find_element(By.ID, "stream").is_displayed()

    browser.get(daemon.url + "/events")
    _until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#events tbody tr"), "no events listed")
    red = "#events tbody tr.sev-critical.status-ended"  # one row per incident: start and end together
    _until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, red), "no ended critical incident")
    assert _text(browser, f"{red} td.duration").split("\n")[0].endswith(" s")
    edge = browser.find_element(By.CSS_SELECTOR, f"{red} td:first-child").value_of_css_property("box-shadow")
    assert "rgb(210, 69, 60)" in edge  # the severity colour
    incident = browser.find_element(By.CSS_SELECTOR, red).get_attribute("data-id")
    browser.find_element(By.NAME, "operator").send_keys("Li Wei")
    browser.find_element(By.CSS_SELECTOR, f"tr[data-id='{incident}'] .ack-button").click()
    acked = f"tr[data-id='{incident}'] td.ack.done"
    _until(browser, lambda d: "Li Wei" in _text(d, acked), "the acknowledgement is not shown")
    browser.get(daemon.url + "/events")  # another screen, or a reload: stored by the daemon
    _until(browser, lambda d: "Li Wei" in _text(d, acked), "the acknowledgement was not kept")
    _until(browser, lambda d: _loaded(d, "#events img.thumb"), "no snapshot thumbnail")
    _until(  # the newest may still be on its way to the sink: some row must show it delivered
        browser,
        lambda d: any("jsonl ✓" in c.text for c in d.find_elements(By.CSS_SELECTOR, "td.delivery")),
        "no event shows its delivery",
    )
    Select(browser.find_element(By.NAME, "type")).select_by_value("red_seen")
    _until(
        browser,
        lambda d: (
            {
                row.text.split("\n")[0]
                for row in d.find_elements(By.CSS_SELECTOR, "#events tbody td:nth-child(4)")
            }
            == {"red_seen"}
        ),
        "the type filter does not filter",
    )
    browser.save_screenshot(str(SHOTS / "events.png"))

    browser.get(daemon.url + "/model")
    assert _text(browser, "#in-use") == "onnx-fp32"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#artifacts tbody tr")) == 2
    assert browser.find_elements(By.ID, "no-benchmark")
    browser.save_screenshot(str(SHOTS / "model.png"))

    browser.get(daemon.url + "/zones")
    _until(browser, lambda d: _loaded(d, "#still"), "the zone editor has no still frame")
    canvas = browser.find_element(By.ID, "zone-canvas")
    width, height = canvas.size["width"], canvas.size["height"]
    for fx, fy in ((0.2, 0.2), (0.8, 0.25), (0.6, 0.9)):  # offsets are from the element's centre
        ActionChains(browser).move_to_element_with_offset(
            canvas, int((fx - 0.5) * width), int((fy - 0.5) * height)
        ).click().perform()
    _until(browser, lambda d: "zone:" in _text(d, "#yaml"), "the zone editor gives no YAML")
    rule = yaml.safe_load(_text(browser, "#yaml"))["rules"][0]
    assert len(rule["zone"]) == 3 and all(0 <= v <= 1 for point in rule["zone"] for v in point)
    assert abs(rule["zone"][0][0] - 0.2) < 0.05 and abs(rule["zone"][2][1] - 0.9) < 0.05
    browser.save_screenshot(str(SHOTS / "zones.png"))
    browser.find_element(By.CSS_SELECTOR, "input[name=kind][value=tripwire]").click()
    for fx in (0.1, 0.9):
        ActionChains(browser).move_to_element_with_offset(
            canvas, int((fx - 0.5) * width), 0
        ).click().perform()
    _until(browser, lambda d: "tripwire:" in _text(d, "#yaml"), "no tripwire YAML")
    wire = yaml.safe_load(_text(browser, "#yaml"))["rules"][0]

    site = yaml.safe_load(daemon.site.read_text())
    site["rules"] += [rule, {**wire, "name": "wire-1"}]
    daemon.site.write_text(yaml.safe_dump(site))
    config = load_site_config(daemon.site)  # what the editor wrote, the validator accepts
    assert config.rules[-2].zone is not None and config.rules[-1].tripwire is not None

    browser.find_element(By.ID, "lang-zh").click()
    _until(browser, lambda d: _text(d, "header nav a") == "总览", "no Chinese texts")
    browser.get(daemon.url + "/")
    _until(browser, lambda d: _text(d, f"{card} .state") == "在线", "the language choice is not kept")
    _until(browser, lambda d: "无信号" in _text(d, f"{dead} .thumb"), "no Chinese NO SIGNAL")
    browser.save_screenshot(str(SHOTS / "overview-zh.png"))

    browser.set_window_size(800, 1200)  # a tablet held upright
    for name, path in (
        ("overview", "/?lang=en"),
        ("live", "/live/cam1"),
        ("events", "/events"),
        ("zones", "/zones"),
    ):
        browser.get(daemon.url + path)
        width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth];")
        assert width[0] <= width[1], f"{path} is wider than a tablet: {width}"
        browser.save_screenshot(str(SHOTS / f"tablet-{name}.png"))

    errors = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors


def test_the_model_page_promotes_the_shadow_candidate(colour_site, tiny_bundle, tmp_path, browser):
    """The promote button on the model page, against a daemon process whose supervisor switches bundles."""
    import signal

    from daemon_helpers import LogReader, spawn_daemon, swapped_bundle, wait_for_value
    from selenium.webdriver.common.by import By

    from edge_runtime.bundle_switch import BundleStore
    from edge_runtime.signing import manifest_digest

    token = "promote-button-token"
    candidate = swapped_bundle(tiny_bundle, tmp_path / "candidate")
    site = yaml.safe_load(colour_site.read_text())
    site["cameras"][0].update(loop=True, realtime=True)
    site["http"] = {"port": free_port(), "token": token, "benchmark": str(tmp_path / "none.json")}
    site["site_loop"] = {
        "shadow": {"bundle": str(candidate), "cpu_budget": 1.0},
        "promote": {"store": str(tmp_path / "store"), "window_s": 30, "min_frames": 5, "min_compared": 20},
    }
    colour_site.write_text(yaml.safe_dump(site, sort_keys=False))
    url = f"http://127.0.0.1:{site['http']['port']}"
    daemon = spawn_daemon(colour_site, Path(__file__).parents[2])
    log = LogReader(daemon)
    try:
        log.wait_for("dashboard on http://", timeout_s=90)
        browser.get(f"{url}/model?token={token}&lang=zh-CN")  # the token becomes the page's cookie
        compared = "#shadow div:nth-child(2) b"
        wait_for_value(lambda: browser.refresh() or int(_text(browser, compared) or 0) >= 20, 90)
        button = browser.find_element(By.ID, "promote-button")
        assert button.text == "切换为在用模型"
        browser.find_element(By.CSS_SELECTOR, "#promote input[name=operator]").send_keys("Li")
        button.click()
        browser.switch_to.alert.accept()  # a switch of the live model is confirmed first
        status = "#promote-status"
        _until(browser, lambda d: d.find_element(By.CSS_SELECTOR, status).get_attribute("data-status") == "active",
               "the page does not show the promotion active")  # fmt: skip
        assert "已生效" in _text(browser, status) and "Li" in _text(browser, status)
        assert BundleStore(tmp_path / "store").current_id() == manifest_digest(candidate)
        browser.save_screenshot(str(SHOTS / "model-promoted.png"))
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    assert daemon.returncode == 0, log.rest()
