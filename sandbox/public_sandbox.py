"""Drive the official CDS Hooks sandbox, built from its public source, against lenadex.

Everything runs on 127.0.0.1: lenadex (started here, or ``--lenadex-url``), the stand-in FHIR
server with the synthetic patients and CORS for the sandbox's origin, and a static file server
for the sandbox's build directory. Debian's Chromium (headless, driven by Playwright) opens the
sandbox with its URL parameters ``fhirServiceUrl``, ``patientId``, ``serviceDiscoveryURL``,
``screen`` and ``hook``; every request the page makes to any other address is refused.

The scenario, on one patient (default ``moderate-renal``):

- Rx View (order-select): order "lenalidomide 25 MG Oral Capsule" (1 capsule daily) from the
  sandbox's medication picker; lenadex's cards must render; a 10 mg lenalidomide dose card
  must be among them; pressing its suggestion must be applied by the sandbox (the next call
  carries the suggested product, coded as the sandbox's picker codes that name) and the dose
  card must be gone from the next answer;
- the right product ("lenalidomide 10 MG Oral Capsule", 1 daily) gets no dose card;
- 4 capsules of 25 mg twice daily (200 mg/day) gets a critical card;
- Rx Sign (order-sign): the same three orders, each sent with *Sign Order*.

It prints each call (the draft order as the sandbox wrote it, the cards as lenadex answered and
as the page rendered them) and one PASS/FAIL line per check, saves PNG screenshots, and exits
0 when every check passed, 1 when one failed, 2 when it could not run (no build, no Chromium,
lenadex not starting), 3 when it ran past ``--timeout``. It is bounded in time (``--timeout``). It is not part of the test
suite: it needs the sandbox's build (docs/sandbox.md, "Running the public CDS Hooks sandbox
locally").

    .venv/bin/python -m sandbox.public_sandbox --sandbox-dir ~/public-sandbox/build
    .venv/bin/python -m sandbox.public_sandbox --sandbox-dir … --serve-only   # keep it up for a browser
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LENALIDOMIDE_25_CAPSULE = "lenalidomide 25 MG Oral Capsule"
LENALIDOMIDE_10_CAPSULE = "lenalidomide 10 MG Oral Capsule"
PICKER_CODES = {LENALIDOMIDE_25_CAPSULE: "643720", LENALIDOMIDE_10_CAPSULE: "602910"}
"""The RxNorm codes the sandbox's medication picker writes for these names (src/assets/medication-list.js)."""
SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-features=MediaRouter,OptimizationHints,Translate",
    # Any host name but the loopback ones fails to resolve (the page's route guard below
    # refuses every other address as well).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
SCREENS = {"rx-view": "order-select", "rx-sign": "order-sign"}


class SetupError(Exception):
    """The run could not start (exit code 2)."""


# --- the servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


@dataclass
class StaticServer:
    """The sandbox's build directory over HTTP (what `python -m http.server` does)."""

    directory: Path
    server: http.server.ThreadingHTTPServer | None = None

    def start(self, port: int = 0) -> str:
        handler = functools.partial(_QuietHandler, directory=str(self.directory))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class Lenadex:
    """`lenadex serve` in a child process, with its own SQLite store in a temporary folder."""

    port: int
    auth: str
    jwks: Path | None
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    folder: tempfile.TemporaryDirectory[str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_seconds: float = 45.0) -> str:
        executable = Path(sys.executable).with_name("lenadex")
        command = [str(executable)] if executable.exists() else [sys.executable, "-m", "service.cli"]
        self.folder = tempfile.TemporaryDirectory(prefix="lenadex-public-sandbox-")
        env = dict(os.environ)
        env.update(
            {
                "LENADEX_HOST": "127.0.0.1",
                "LENADEX_PORT": str(self.port),
                "LENADEX_DATABASE_URL": f"sqlite:///{self.folder.name}/lenadex.sqlite3",
                "LENADEX_AUTH": self.auth,
                "LENADEX_CORS_ORIGINS": "*",
            }
        )
        if self.auth == "jwt":
            if self.jwks is None or not self.jwks.is_file():
                raise SetupError(f"--auth jwt needs the sandbox's JWKS file (not found: {self.jwks})")
            env["LENADEX_TRUSTED_ISSUERS"] = SANDBOX_ISSUER
            env["LENADEX_JWKS"] = str(self.jwks)
            env["LENADEX_PUBLIC_BASE_URL"] = self.base_url  # the tokens' aud
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [*command, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.folder.name,
        )
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SetupError(f"lenadex exited with code {self.process.returncode}; see {self.log_path}")
            if _http_ok(f"{self.base_url}/healthz"):
                return self.base_url
            time.sleep(0.3)
        raise SetupError(f"lenadex did not answer /healthz within {wait_seconds:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.folder is not None:
            self.folder.cleanup()


def _http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - 127.0.0.1 only
            return bool(200 <= answer.status < 300)
    except OSError:
        return False


def _require_loopback(url: str, what: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise SetupError(f"{what} must be on 127.0.0.1 (got {url})")


def start_fhir_server(origin: str, port: int = 0) -> tuple[Any, Any]:
    """The stand-in FHIR server with every synthetic patient, CORS for the sandbox's origin."""
    from sandbox.catalogue import PATIENTS, fhir_resources
    from sandbox.fhir_server import StandInFhirServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    resources = [resource for slug in PATIENTS for resource in fhir_resources(slug)]
    server = StandInFhirServer(resources, cors_origin=origin)
    return server, server.start("127.0.0.1", port)


def sandbox_url(static: str, fhir: str, discovery: str, patient: str, screen: str) -> str:
    """The sandbox's launch URL: its query parameters are read in src/components/MainView and
    src/retrieve-data-helpers (fhirServiceUrl, patientId, serviceDiscoveryURL, screen, hook)."""
    return (
        f"{static}/?fhirServiceUrl={quote(fhir, safe='')}"
        f"&patientId={quote(patient, safe='')}"
        f"&serviceDiscoveryURL={quote(discovery, safe='')}"
        f"&screen={screen}&hook={SCREENS[screen]}"
    )


# --- what the page exchanged ---------------------------------------------------------------------


@dataclass
class Exchange:
    """One hook call the sandbox made to lenadex and lenadex's answer."""

    service: str
    status: int
    request: dict[str, Any]
    response: Any

    @property
    def order(self) -> dict[str, Any]:
        entries = ((self.request.get("context") or {}).get("draftOrders") or {}).get("entry") or []
        return (entries[0].get("resource") or {}) if entries else {}

    @property
    def cards(self) -> list[dict[str, Any]]:
        return list((self.response or {}).get("cards") or []) if isinstance(self.response, dict) else []


@dataclass
class Recorder:
    lenadex: str
    exchanges: list[Exchange] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)

    def attach(self, context: Any) -> None:
        context.route("**/*", self._guard)

    def watch(self, page: Any) -> None:
        page.on("response", self._on_response)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("console", lambda m: self.errors.append(f"console: {m.text[:300]}") if m.type == "error" else None)

    def _guard(self, route: Any) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about") or (parts.hostname or "") in LOOPBACK_HOSTS:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")

    def _on_response(self, response: Any) -> None:
        request = response.request
        url = request.url
        if response.status >= 400:
            self.failed_responses.append(
                f"{response.status} {request.method} {urlsplit(url).netloc}{urlsplit(url).path}"
            )
        if request.method != "POST" or not url.startswith(f"{self.lenadex}/cds-services/"):
            return
        try:
            sent = json.loads(request.post_data or "{}")
        except ValueError:
            sent = {}
        try:
            body: Any = response.json()
        except Exception:  # noqa: BLE001 - any unreadable body is recorded as text
            body = None
        if url.endswith("/feedback"):
            self.feedback.append({"status": response.status, "request": sent})
            return
        service = url.rsplit("/", 1)[-1]
        self.exchanges.append(Exchange(service, response.status, sent, body))


# --- reading the order and the cards -----------------------------------------------------------


def describe_order(order: dict[str, Any]) -> str:
    concept = order.get("medicationCodeableConcept") or {}
    coding = (concept.get("coding") or [{}])[0]
    dosage = (order.get("dosageInstruction") or [{}])[0]
    dose = ((dosage.get("doseAndRate") or [{}])[0].get("doseQuantity")) or dosage.get("doseQuantity") or {}
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    name = concept.get("text") or coding.get("display") or "(no medication)"
    return (
        f"{name} [{coding.get('code', '?')}], dose {dose.get('value', '?')} {dose.get('unit') or dose.get('code') or ''}"
        f", {repeat.get('frequency', '?')}×/{repeat.get('period', '?')} {repeat.get('periodUnit', '')}"
    ).replace("  ", " ")


def product_code(order: dict[str, Any]) -> str | None:
    for coding in (order.get("medicationCodeableConcept") or {}).get("coding") or []:
        if coding.get("system") == RXNORM:
            return str(coding.get("code"))
    return None


def order_is(order: dict[str, Any], code: str, pills: int, per_day: int) -> bool:
    dosage = (order.get("dosageInstruction") or [{}])[0]
    dose = ((dosage.get("doseAndRate") or [{}])[0].get("doseQuantity")) or dosage.get("doseQuantity") or {}
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    return product_code(order) == code and dose.get("value") == pills and repeat.get("frequency") == per_day


def lenalidomide_dose_card(cards: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The card that states a lenalidomide dose: its ``org.lenadex.dose`` extension names
    lenalidomide, or (for answers without the extension) its summary says "start N mg"."""
    for card in cards:
        dose = (card.get("extension") or {}).get("org.lenadex.dose") or {}
        if isinstance(dose, dict) and dose.get("drug") == "lenalidomide":
            return card
    for card in cards:
        summary = str(card.get("summary", ""))
        if summary.lower().startswith("lenalidomide") and re.search(r"\bstart \d+(\.\d+)? mg\b", summary):
            return card
    return None


def dose_mg(card: dict[str, Any]) -> float | None:
    dose = (card.get("extension") or {}).get("org.lenadex.dose") or {}
    if isinstance(dose, dict) and isinstance(dose.get("mg"), (int, float)):
        return float(dose["mg"])
    found = re.search(r"\bstart (\d+(?:\.\d+)?) mg\b", str(card.get("summary", "")))
    return float(found.group(1)) if found else None


def card_line(card: dict[str, Any]) -> str:
    rules = (card.get("extension") or {}).get("org.lenadex.rules") or []
    return f"[{card.get('indicator')}] {card.get('summary')}" + (f"  ({', '.join(rules)})" if rules else "")


# --- the browser -------------------------------------------------------------------------------


RENDERED_SUMMARIES_JS = """() => Array.from(document.querySelectorAll('[class*="decision-card"]'))
  .map(card => { const s = card.querySelector('.MuiTypography-root'); return (s || card).innerText.trim(); })"""


@dataclass
class Driver:
    page: Any
    recorder: Recorder
    out: Path
    step_timeout: float
    log: Callable[[str], None]

    def open(self, url: str) -> None:
        self.page.goto(url, wait_until="load")
        self.page.locator('input[name="medication-input"]').wait_for(state="visible")
        # The loading backdrop is gone once the FHIR server, the patient and discovery are read.
        self.page.locator(".MuiBackdrop-root:not(.MuiBackdrop-invisible)").first.wait_for(state="hidden")

    def choose(self, name: str) -> None:
        box = self.page.locator('input[name="medication-input"]')
        box.fill(name)
        self.page.get_by_role("button", name=name, exact=True).click()

    def set_dose(self, pills: int, frequency: str) -> None:
        self.page.locator("#dosage-frequency").click()
        self.page.locator(f'li[role="option"][data-value="{frequency}"]').click()
        amount = self.page.locator("#dosage-amount")
        amount.fill(str(pills))
        amount.press("Tab")

    def sign(self) -> None:
        self.page.get_by_role("button", name="Sign Order").click()

    def wait_exchange(self, since: int, matches: Callable[[Exchange], bool]) -> Exchange | None:
        deadline = time.monotonic() + self.step_timeout
        while time.monotonic() < deadline:
            for exchange in self.recorder.exchanges[since:]:
                if matches(exchange):
                    return exchange
            self.page.wait_for_timeout(150)
        return None

    def wait_rendered(self, exchange: Exchange) -> list[str]:
        """The card summaries the page shows once it has rendered this answer (or, after the
        step timeout, whatever it shows)."""
        wanted = sorted(str(c.get("summary", "")).strip() for c in exchange.cards)
        deadline = time.monotonic() + self.step_timeout
        rendered: list[str] = []
        while time.monotonic() < deadline:
            rendered = [s.strip() for s in self.page.evaluate(RENDERED_SUMMARIES_JS)]
            if sorted(rendered) == wanted:
                break
            self.page.wait_for_timeout(150)
        self.page.wait_for_timeout(300)  # let layout settle before a screenshot
        return rendered

    def press_suggestion(self, card: dict[str, Any]) -> str | None:
        suggestions = card.get("suggestions") or []
        if not suggestions:
            return None
        label = str(suggestions[0].get("label"))
        summary = str(card.get("summary"))
        box = self.page.locator('[class*="decision-card"]', has_text=summary).first
        box.get_by_role("button", name=label, exact=True).click()
        return label

    def shot(self, name: str) -> Path:
        path = self.out / f"{name}.png"
        self.page.evaluate("window.scrollTo(0, 0)")  # else the sticky header lands mid-picture
        self.page.screenshot(path=str(path), full_page=True)
        self.log(f"    screenshot: {path}")
        return path


@dataclass
class Checks:
    results: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.results.append((name, ok, detail))
        print(f"  {'PASS' if ok else 'FAIL'}  {name}" + (f" — {detail}" if detail else ""), flush=True)
        return ok

    @property
    def failed(self) -> list[str]:
        return [name for name, ok, _ in self.results if not ok]


def report_exchange(log: Callable[[str], None], exchange: Exchange, rendered: list[str]) -> None:
    log(f"    {exchange.service} → HTTP {exchange.status}; order: {describe_order(exchange.order)}")
    for card in exchange.cards:
        log(f"      {card_line(card)}")
        for suggestion in card.get("suggestions") or []:
            actions = "; ".join(f"{a.get('type')}: {a.get('description')}" for a in suggestion.get("actions") or [])
            log(f"        suggestion “{suggestion.get('label')}” → {actions}")
    if not exchange.cards:
        log("      (no cards)" if exchange.status == 200 else f"      answer: {str(exchange.response)[:300]}")
    log(f"    rendered by the sandbox: {len(rendered)} card(s)")


def run_screen(screen: str, driver: Driver, url: str, checks: Checks, log: Callable[[str], None]) -> None:
    """One screen (rx-view or rx-sign) through the three orders and the suggestion."""
    hook = SCREENS[screen]
    service_hint = hook
    explicit = screen == "rx-sign"
    tag = "Rx View" if screen == "rx-view" else "Rx Sign"
    recorder = driver.recorder

    def call(action: Callable[[], None], code: str, pills: int, per_day: int) -> Exchange | None:
        since = len(recorder.exchanges)
        action()
        if explicit:
            driver.sign()
        return driver.wait_exchange(
            since, lambda e: service_hint in e.service and order_is(e.order, code, pills, per_day)
        )

    log(f"\n== {tag} ({hook}) ==")
    driver.open(url)

    # 1. lenalidomide 25 MG Oral Capsule, 1 daily.
    log(f"  order {LENALIDOMIDE_25_CAPSULE}, 1 daily")
    first = call(lambda: driver.choose(LENALIDOMIDE_25_CAPSULE), "643720", 1, 1)
    if first is None:
        checks.check(f"{tag}: lenadex's cards render (25 mg capsule)", False, "no call reached lenadex")
        driver.shot(f"{screen}-1-25mg-capsule")
        return
    rendered = driver.wait_rendered(first)
    report_exchange(log, first, rendered)
    driver.shot(f"{screen}-1-25mg-capsule")
    wanted = sorted(str(c.get("summary", "")).strip() for c in first.cards)
    checks.check(
        f"{tag}: lenadex's cards render (25 mg capsule)",
        first.status == 200 and bool(wanted) and sorted(rendered) == wanted,
        f"HTTP {first.status}, {len(first.cards)} card(s) answered, {len(rendered)} rendered",
    )
    card = lenalidomide_dose_card(first.cards)
    checks.check(
        f"{tag}: 10 mg lenalidomide dose card",
        card is not None and dose_mg(card) == 10.0,
        card_line(card) if card else "no lenalidomide dose card",
    )

    # 2. Its suggestion, applied by the sandbox; the next call has no dose card.
    if card is not None and card.get("suggestions"):
        suggested = next(
            (a.get("resource") or {} for a in card["suggestions"][0].get("actions") or [] if a.get("type") == "update"),
            {},
        )
        feedback_before = len(recorder.feedback)
        since = len(recorder.exchanges)
        label = driver.press_suggestion(card)
        log(f"  press suggestion “{label}” (suggests: {describe_order(suggested)})")
        if explicit:
            driver.page.wait_for_timeout(500)
            driver.sign()
        after = driver.wait_exchange(since, lambda e: service_hint in e.service)
        if after is None:
            driver.shot(f"{screen}-2-after-suggestion")
            checks.check(
                f"{tag}: suggestion applied by the sandbox",
                False,
                "no new call after pressing it: the sandbox left the order as it was (it takes only "
                "medicationCodeableConcept from an update, and the suggestion kept the ordered product)",
            )
        else:
            rendered = driver.wait_rendered(after)
            report_exchange(log, after, rendered)
            driver.shot(f"{screen}-2-after-suggestion")
            suggested_code = str(
                ((suggested.get("medicationCodeableConcept") or {}).get("coding") or [{}])[0].get("code")
            )
            applied = product_code(after.order) == suggested_code and product_code(after.order) != product_code(
                first.order
            )
            checks.check(
                f"{tag}: suggestion applied by the sandbox",
                applied,
                f"next order: {describe_order(after.order)}"
                + (
                    ""
                    if applied
                    else f"; the suggestion kept product {suggested_code} and the sandbox takes only "
                    "medicationCodeableConcept from an update, so the order was sent unchanged"
                ),
            )
            if applied:
                text = str((after.order.get("medicationCodeableConcept") or {}).get("text"))
                expected = PICKER_CODES.get(text)
                checks.check(
                    f"{tag}: applied order is coded as the product it names",
                    expected is not None and product_code(after.order) == expected,
                    f"“{text}” with RxNorm {product_code(after.order)}"
                    + ("" if expected is None else f"; the picker codes it {expected}"),
                )
            gone = lenalidomide_dose_card(after.cards)
            checks.check(
                f"{tag}: dose card gone on the next call",
                gone is None,
                "" if gone is None else card_line(gone),
            )
        accepted = [
            f
            for f in recorder.feedback[feedback_before:]
            if any(x.get("outcome") == "accepted" for x in f["request"].get("feedback") or [])
        ]
        log(f"    feedback posted: {[f['status'] for f in accepted] or 'none'}")
    else:
        checks.check(f"{tag}: suggestion applied by the sandbox", False, "no dose card with a suggestion")
        checks.check(f"{tag}: dose card gone on the next call", False, "no dose card with a suggestion")

    # 3. The right product: lenalidomide 10 MG Oral Capsule, 1 daily.
    log(f"  order {LENALIDOMIDE_10_CAPSULE}, 1 daily")
    driver.open(url)
    right = call(lambda: driver.choose(LENALIDOMIDE_10_CAPSULE), "602910", 1, 1)
    if right is None:
        checks.check(f"{tag}: 10 mg capsule gets no dose card", False, "no call reached lenadex")
    else:
        rendered = driver.wait_rendered(right)
        report_exchange(log, right, rendered)
        card = lenalidomide_dose_card(right.cards)
        checks.check(
            f"{tag}: 10 mg capsule gets no dose card",
            right.status == 200 and card is None,
            f"HTTP {right.status}" + ("" if card is None else f"; {card_line(card)}"),
        )
    driver.shot(f"{screen}-3-10mg-capsule")

    # 4. 200 mg/day: 4 capsules of 25 mg twice daily.
    log(f"  order {LENALIDOMIDE_25_CAPSULE}, 4 twice daily (200 mg/day)")

    def overdose() -> None:
        driver.choose(LENALIDOMIDE_25_CAPSULE)
        driver.set_dose(4, "bid")

    high = call(overdose, "643720", 4, 2)
    if high is None:
        checks.check(f"{tag}: 200 mg/day is critical", False, "no call reached lenadex")
    else:
        rendered = driver.wait_rendered(high)
        report_exchange(log, high, rendered)
        critical = [c for c in high.cards if c.get("indicator") == "critical"]
        checks.check(
            f"{tag}: 200 mg/day is critical",
            bool(critical),
            "; ".join(str(c.get("summary")) for c in critical) or "no critical card",
        )
    driver.shot(f"{screen}-4-200mg-day")


def serve_only(url_for: Callable[[str], str]) -> int:
    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Ctrl-C, or a plain `kill`: either way the servers (and the lenadex child) are stopped.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print("\nServing; open one of these in a browser on this machine (Ctrl-C to stop):")
    for screen in SCREENS:
        print(f"  {screen}: {url_for(screen)}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


def drive(args: argparse.Namespace, url_for: Callable[[str], str], lenadex: str) -> int:
    from playwright.sync_api import sync_playwright

    checks = Checks()
    recorder = Recorder(lenadex)
    out = Path(args.out)

    def log(line: str) -> None:
        print(line, flush=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            for screen in args.screens:
                context = browser.new_context(viewport={"width": 1500, "height": 1100})
                context.set_default_timeout(args.step_timeout * 1000)
                recorder.attach(context)
                page = context.new_page()
                recorder.watch(page)
                driver = Driver(page, recorder, out, args.step_timeout, log)
                try:
                    run_screen(screen, driver, url_for(screen), checks, log)
                except Exception as error:  # noqa: BLE001 - a step the page did not allow
                    checks.check(
                        f"{screen}: the scenario ran to its end", False, f"{type(error).__name__}: {str(error)[:300]}"
                    )
                    try:
                        driver.shot(f"{screen}-error")
                    except Exception:  # noqa: BLE001
                        pass
                finally:
                    context.close()
        finally:
            browser.close()

    blocked = sorted({urlsplit(u).netloc for u in recorder.blocked})
    log(f"\nRequests to other addresses refused: {', '.join(blocked) if blocked else 'none'}")
    statuses = sorted({e.status for e in recorder.exchanges})
    log(
        f"Hook calls: {len(recorder.exchanges)} (HTTP {statuses}); feedback posts: "
        f"{[f['status'] for f in recorder.feedback]}"
    )
    if recorder.failed_responses:
        counts: dict[str, int] = {}
        for line in recorder.failed_responses:
            counts[line] = counts.get(line, 0) + 1
        log("HTTP errors the page received: " + "; ".join(f"{k} ×{n}" for k, n in sorted(counts.items())))
    noise = [
        e
        for e in recorder.errors
        if not any(m in e for m in ("ERR_BLOCKED_BY_CLIENT", "ERR_NAME_NOT_RESOLVED", "Failed to load resource"))
    ]
    if noise:
        log("Page errors (first 5):")
        for line in noise[:5]:
            log(f"  {line}")
    log(f"\n{len(checks.results) - len(checks.failed)} passed, {len(checks.failed)} failed")
    return 1 if checks.failed else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.public_sandbox",
        description="Drive the official CDS Hooks sandbox (its build directory) against lenadex, "
        "all on 127.0.0.1, in headless Chromium.",
    )
    parser.add_argument(
        "--sandbox-dir", required=True, type=Path, help="the sandbox's build directory (index.html, app.bundle.js)"
    )
    parser.add_argument("--patient", default="moderate-renal", help="synthetic patient (default moderate-renal)")
    parser.add_argument("--lenadex-url", help="use this running lenadex (on 127.0.0.1) instead of starting one")
    parser.add_argument(
        "--lenadex-port", type=int, default=0, help="port for the lenadex started here (default: a free one)"
    )
    parser.add_argument("--static-port", type=int, default=0, help="port for the sandbox's files (default: a free one)")
    parser.add_argument(
        "--fhir-port", type=int, default=0, help="port for the stand-in FHIR server (default: a free one)"
    )
    parser.add_argument(
        "--auth",
        choices=("off", "jwt"),
        default="off",
        help="jwt: the lenadex started here checks the sandbox's ES384 JWTs against the "
        "JWKS in the build (.well-known/jwks.json)",
    )
    parser.add_argument("--screens", nargs="+", choices=tuple(SCREENS), default=list(SCREENS))
    parser.add_argument("--out", default="/tmp/public-sandbox", help="folder for screenshots and the lenadex log")
    parser.add_argument("--chromium", default=os.environ.get("LENADEX_CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--step-timeout", type=float, default=20.0, help="seconds for one step (default 20)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for the whole run (default 300)")
    parser.add_argument(
        "--serve-only", action="store_true", help="start the servers, print the sandbox URLs and wait (no browser)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    build = args.sandbox_dir.resolve()
    out = Path(args.out)
    lenadex_process: Lenadex | None = None
    static = StaticServer(build)
    fhir_running: Any = None

    def terminate(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)  # a plain `kill` still stops the lenadex child

    def watchdog() -> None:
        time.sleep(args.timeout)
        print(f"\nFAIL  the run took longer than --timeout {args.timeout:.0f} s; stopping", flush=True)
        if lenadex_process is not None:
            lenadex_process.stop()
        os._exit(3)

    try:
        if not (build / "index.html").is_file() or not (build / "app.bundle.js").is_file():
            raise SetupError(
                f"{build} is not the sandbox's build (no index.html/app.bundle.js): "
                "build it with `npm ci --legacy-peer-deps && npm run build`"
            )
        if not args.serve_only and not (os.path.isfile(args.chromium) and os.access(args.chromium, os.X_OK)):
            raise SetupError(f"no Chromium at {args.chromium}: apt-get update && apt-get install -y chromium")
        out.mkdir(parents=True, exist_ok=True)
        if not args.serve_only:
            threading.Thread(target=watchdog, daemon=True).start()

        static_url = static.start(args.static_port)
        if args.lenadex_url:
            _require_loopback(args.lenadex_url, "--lenadex-url")
            lenadex = args.lenadex_url.rstrip("/")
            if not _http_ok(f"{lenadex}/cds-services"):
                raise SetupError(f"no CDS Hooks discovery at {lenadex}/cds-services")
        else:
            lenadex_process = Lenadex(
                args.lenadex_port or free_port(),
                args.auth,
                build / ".well-known" / "jwks.json",
                out / "lenadex.log",
            )
            lenadex = lenadex_process.start()
        fhir_server, fhir_running = start_fhir_server(static_url, args.fhir_port)
        from sandbox.catalogue import PATIENTS

        if args.patient not in PATIENTS:
            raise SetupError(f"unknown patient {args.patient!r}; `lenadex sandbox patients` lists them")
        print(f"sandbox files: {static_url} ({build})")
        print(f"lenadex:       {lenadex} (auth {args.auth if lenadex_process else 'as it runs'})")
        print(f"FHIR server:   {fhir_running.base_url} (stand-in, CORS for {static_url})")
        print(f"patient:       {args.patient}")

        def url_for(screen: str) -> str:
            return sandbox_url(static_url, fhir_running.base_url, f"{lenadex}/cds-services", args.patient, screen)

        if args.serve_only:
            return serve_only(url_for)
        code = drive(args, url_for, lenadex)
        reads = [r["path"] for r in fhir_server.requests_seen]
        print(f"FHIR server requests: {len(reads)} ({', '.join(sorted(set(reads))[:8])}…)")
        print(f"screenshots and lenadex.log in {out}")
        return code
    except SetupError as error:
        print(f"cannot run: {error}", file=sys.stderr)
        return 2
    finally:
        if fhir_running is not None:
            fhir_running.stop()
        static.stop()
        if lenadex_process is not None:
            lenadex_process.stop()


if __name__ == "__main__":
    sys.exit(main())
