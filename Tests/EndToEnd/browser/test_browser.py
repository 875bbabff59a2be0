#!/usr/bin/env python3
"""The ticket page in two real headless Chromium browsers against a running server.

Alice signs up in the page; both open the same showtime. Alice selects two seats (one by
mouse, one by keyboard) and holds them: Bob sees them turn held, and free again when she
releases them. The pages follow the seat map over a WebSocket; with WebSockets refused Bob's
page uses the event stream of the same URL, and with both blocked it falls back to polling and
still sees her next hold. A seat Bob's stale page offers is refused with a clear message (after he
signs up in the dialog that holding asks for). Alice pays and
gets a ticket code while Bob sees her seats sold; Bob's declined payment says so; Alice
cancels in "my bookings", signs out and back in.

No timing assertions: every check waits (a few seconds at most) for the expected state.
Screenshots of the seat maps, the payment page and the ticket go to
$BOXOFFICE_E2E_ARTIFACTS/browser/.
"""

import os
import re
import shutil
import subprocess
import sys
import time
import traceback
import uuid

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

BASE = os.environ["BOXOFFICE_E2E_URL"].rstrip("/")
ARTIFACTS = os.path.join(os.environ.get("BOXOFFICE_E2E_ARTIFACTS", ".data/e2e-artifacts"), "browser")
WAIT = 5  # seconds for an expected state to show
PASSWORD = "correct-horse-battery"


def log(message):
    print(message, flush=True)


class Page:
    """One browser with the helpers the checks need."""

    def __init__(self, name, width=1280, height=1000):
        self.name = name
        options = webdriver.ChromeOptions()
        binary = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
        if binary:
            options.binary_location = binary
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         f"--window-size={width},{height}", "--lang=en-GB", "--force-device-scale-factor=1"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver_path = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
        self.driver = webdriver.Chrome(service=Service(driver_path), options=options)
        self.driver.set_page_load_timeout(20)
        self.console = []

    # --- finding and waiting ---

    def wait(self, condition, what, timeout=WAIT):
        try:
            # The page re-renders what it shows: an element read a moment after it was found
            # may have been replaced, which only means "not yet".
            return WebDriverWait(
                self.driver, timeout, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,)
            ).until(lambda _: condition())
        except TimeoutException:
            raise AssertionError(f"{self.name}: waited {timeout}s for {what}") from None

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def present(self, css, what=None, timeout=WAIT):
        return self.wait(lambda: next((e for e in self.all(css) if e.is_displayed()), None), what or css, timeout)

    def click(self, css, what=None):
        element = self.present(css, what)
        self.wait(lambda: element.is_enabled(), f"{what or css} to be enabled")
        element.click()
        return element

    def text_of(self, css):
        elements = self.all(css)
        return elements[0].text if elements else ""

    def open(self, path="/"):
        self.driver.get(BASE + path)

    # --- the seat map ---

    def seat(self, row, number):
        return self.find(f'.seat[data-row="{row}"][data-number="{number}"]')

    def seat_by_id(self, seat_id):
        return self.find(f'.seat[data-seat-id="{seat_id}"]')

    def free_pair(self, rows="FGHEDCBAIJKL", skip=()):
        """Row and number of two free neighbours (n, n+1), in the rows preferred first."""
        free = {(e.get_attribute("data-row"), int(e.get_attribute("data-number")))
                for e in self.all('.seat[data-status="available"]')}
        order = {row: i for i, row in enumerate(rows)}
        for row, number in sorted(free, key=lambda rn: (order.get(rn[0], 99), rn[0], abs(rn[1] - 10), rn[1])):
            if (row, number + 1) in free and not {(row, number), (row, number + 1)} & set(skip):
                return row, number
        raise AssertionError(f"{self.name}: no two free seats side by side")

    def status(self, seat_id):
        return self.seat_by_id(seat_id).get_attribute("data-status")

    def wait_status(self, seat_ids, status, timeout=WAIT):
        started = time.monotonic()
        self.wait(lambda: all(self.status(s) == status for s in seat_ids),
                  f"seats {seat_ids} to be {status} (now {[self.status(s) for s in seat_ids]})", timeout)
        return time.monotonic() - started

    def transport(self):
        return self.find("#feed-status").get_attribute("data-transport")

    def wait_map(self):
        self.present(".seat", "the seat map")
        self.wait(lambda: self.find("#feed-status").get_attribute("data-mode") == "live", "the live stream")

    # --- account ---

    def sign_up(self, name, email):
        self.click("#sign-in", "the Sign in button")
        self.fill_sign_up(name, email)

    def fill_sign_up(self, name, email):
        self.present("#auth-dialog[open]", "the sign-in dialog")
        self.click("#tab-signup", "the Create account tab")
        self.find("#auth-name").send_keys(name)
        self.find("#auth-email").send_keys(email)
        self.find("#auth-password").send_keys(PASSWORD)
        self.click("#auth-submit")
        self.present("#sign-out", "being signed in")

    def sign_in(self, email, password=PASSWORD):
        self.click("#sign-in", "the Sign in button")
        self.present("#auth-dialog[open]", "the sign-in dialog")
        self.find("#auth-email").clear()
        self.find("#auth-email").send_keys(email)
        self.find("#auth-password").send_keys(password)
        self.click("#auth-submit")
        self.present("#sign-out", "being signed in")

    # --- evidence ---

    def screenshot(self, name, css=None):
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.join(ARTIFACTS, f"{name}.png")
        if css:
            element = self.find(css)
            self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
            element.screenshot(path)
        else:
            self.driver.save_screenshot(path)
        return path

    def block(self, *patterns):
        """Makes the browser refuse requests to matching URLs (an outage only this browser sees)."""
        self.driver.execute_cdp_cmd("Network.enable", {})
        self.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": list(patterns)})

    def refuse_websockets(self, refuse=True):
        """From the next page load on, every WebSocket fails before it opens, as behind a proxy
        that refuses upgrades (Chrome's request blocking does not apply to WebSockets)."""
        if refuse:
            self.refusal = self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": """
                window.WebSocket = class extends EventTarget {
                    constructor(url) {
                        super();
                        this.url = url;
                        this.readyState = 0;
                        setTimeout(() => { this.readyState = 3; this.dispatchEvent(new CloseEvent('close', { code: 1006 })); }, 20);
                    }
                    close() {}
                    send() {}
                };
            """})["identifier"]
        elif getattr(self, "refusal", None):
            self.driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": self.refusal})
            self.refusal = None

    def pause(self, pattern):
        """Holds matching requests before they are sent, unanswered (a hanging connection)."""
        self.driver.execute_cdp_cmd("Fetch.enable", {"patterns": [{"urlPattern": pattern}]})

    def resume(self):
        self.driver.execute_cdp_cmd("Fetch.disable", {})

    def script_errors(self):
        self.console += self.driver.get_log("browser")
        # Failed requests (409, 410, a blocked stream) are logged by Chrome too; those are expected.
        return [e["message"] for e in self.console
                if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]
                and "net::ERR_BLOCKED_BY_CLIENT" not in e["message"] and "/live" not in e["message"]]

    def quit(self):
        try:
            self.driver.quit()
        except WebDriverException:
            pass


def call(method, path, body=None, token=None):
    import json
    import urllib.error
    import urllib.request
    request = urllib.request.Request(BASE + path, data=None if body is None else json.dumps(body).encode(), method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def call_csv(path, token):
    """The body of a CSV answer of the API, as text."""
    import urllib.request
    request = urllib.request.Request(BASE + path)
    request.add_header("Accept", "text/csv")
    request.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


def shown_report(page):
    """The revenue table of the reports page: its group rows' count and, per currency, the
    totals row's cells (counts as shown, money as its minor units)."""
    totals = {}
    for row in page.all("#revenue-table tfoot tr"):
        cells = {td.get_attribute("data-col"): td.text for td in row.find_elements(By.CSS_SELECTOR, "td[data-col]")}
        for key in ("gross_minor", "refunds_minor", "net_minor"):
            cells[key] = int(re.sub(r"\D", "", cells[key]) or "0")  # "€1,234.50" → 123450
        totals[row.get_attribute("data-currency")] = cells
    return len(page.all("#revenue-table tbody tr[data-currency]")), totals


def expected_report(report):
    """What shown_report reads when the page shows this API report."""
    totals = {row["currency"]: {"showtimes": str(row["showtimes"]), "cancelled_showtimes": str(row["cancelled_showtimes"]),
                                "tickets_sold": str(row["tickets_sold"]), "gross_minor": row["gross_minor"],
                                "refunds_minor": row["refunds_minor"], "net_minor": row["net_minor"]}
              for row in report["totals"]}
    return len(report["groups"]), totals


def shows_report(page, report):
    """True once the page's table (loaded, not busy) matches the API's report."""
    if page.find("#reports-result").get_attribute("aria-busy") or not page.all("#revenue-table"):
        return False
    count, totals = shown_report(page)
    want_count, want_totals = expected_report(report)
    return (count == want_count and set(totals) == set(want_totals)
            and all({key: totals[currency][key] for key in want} == want for currency, want in want_totals.items()))


def ticket_for_today():
    """A confirmed ticket for a showtime starting in a few minutes (the demo's start tomorrow),
    bought through the API; None when that would fall on another day in the cinema's zone."""
    import datetime
    from zoneinfo import ZoneInfo
    zone = ZoneInfo("Europe/Berlin")
    start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(minutes=3)
    if start.astimezone(zone).date() != datetime.datetime.now(zone).date():
        return None
    _, admin = call("POST", "/auth/login", {"email": os.environ["BOXOFFICE_ADMIN_EMAIL"], "password": os.environ["BOXOFFICE_ADMIN_PASSWORD"]})
    admin = admin["access_token"]
    _, halls = call("GET", "/admin/halls", token=admin)
    hall = halls["items"][-1]["id"]
    _, detail = call("GET", f"/halls/{hall}")
    _, movies = call("GET", "/movies")
    status, showtime = call("POST", "/admin/showtimes", {
        "movie_id": movies["items"][0]["id"], "hall_id": hall, "starts_at": start.isoformat().replace("+00:00", "Z"),
        "currency": "EUR", "prices": {category: 1000 for category in detail["categories"]}}, token=admin)
    assert status == 201, (status, showtime)
    _, person = call("POST", "/auth/signup", {"email": f"door-{uuid.uuid4().hex[:8]}@e2e.test", "password": PASSWORD, "name": "Door"})
    token = person["access_token"]
    status, hold = call("POST", f"/showtimes/{showtime['id']}/holds", {"count": 1}, token=token)
    assert status == 201, (status, hold)
    status, checkout = call("POST", f"/holds/{hold['id']}/checkout", token=token)
    assert status == 201, (status, checkout)
    status, paid = call("POST", f"/sandbox/payments/{checkout['payment_id']}", {"outcome": "succeed"}, token=token)
    assert status == 200 and paid["outcome"] == "confirmed", (status, paid)
    _, booking = call("GET", f"/bookings/{checkout['booking_id']}", token=token)
    return booking["ticket_code"]


def another_showtime(other_than):
    """The id of a scheduled showtime of the demo programme other than `other_than`."""
    import datetime
    today = datetime.date.today()
    for offset in range(0, 8):
        _, listed = call("GET", f"/showtimes?date={(today + datetime.timedelta(days=offset)).isoformat()}&limit=50")
        for item in (listed or {}).get("items", []):
            if item["id"] != other_than:
                return item["id"]
    raise AssertionError("no other showtime in the demo programme")


def check(what):
    log(f"ok   {what}")


def main():
    run = uuid.uuid4().hex[:8]
    alice_email, bob_email = f"alice-{run}@e2e.test", f"bob-{run}@e2e.test"
    alice = Page("alice")
    bob = Page("bob")
    pages = [alice, bob]
    try:
        # The programme, with its showtimes; both sign up in the page.
        alice.open("/")
        alice.present("a.showtime", "a showtime in the programme")
        alice.screenshot("programme")
        check("the programme lists movies with showtimes")

        # A chain: Alice picks the Lisbon cinema; the programme shows its showtimes at Lisbon's
        # clock, and the choice is remembered across a reload; then all cinemas again.
        def times():
            return [e.text for e in alice.all("a.showtime .showtime__time")]
        Select(alice.find("#cinema")).select_by_visible_text("BoxOffice Lisboa")
        alice.wait(lambda: times() and set(times()) == {"19:00"}, "Lisbon's programme at Lisbon's clock")
        alice.driver.refresh()
        alice.present("a.showtime", "the programme again")
        assert Select(alice.find("#cinema")).first_selected_option.text == "BoxOffice Lisboa", "the cinema is remembered"
        assert set(times()) == {"19:00"}, times()
        Select(alice.find("#cinema")).select_by_visible_text("All cinemas")
        alice.wait(lambda: len(set(times())) > 1, "every cinema's programme")
        check("a chain: the Lisbon cinema's programme at Lisbon's clock, remembered; then all cinemas")
        alice.sign_up("Alice", alice_email)
        check("Alice signs up in the page")

        alice.click("a.showtime", "the first showtime")
        alice.wait(lambda: "#/showtime/" in alice.driver.current_url, "the showtime page")
        showtime_path = "/" + alice.driver.current_url.split("/", 3)[3]
        alice.wait_map()
        bob.open(showtime_path)
        bob.wait_map()
        assert bob.transport() == "websocket", bob.transport()
        check(f"both open the same showtime ({showtime_path}) and follow it over a WebSocket")

        # Every seat is a labelled button; selection by mouse, then by keyboard.
        row, number = alice.free_pair()
        first = alice.seat(row, number)
        label = first.get_attribute("aria-label")
        assert re.match(rf"Row {row}, seat {number}, [a-z ]+, available, ", label), label
        first.click()
        assert first.get_attribute("aria-pressed") == "true"
        alice.driver.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
        second = alice.driver.switch_to.active_element
        assert second.get_attribute("data-number") == str(number + 1), "ArrowRight moves to the next seat"
        second.send_keys(Keys.SPACE)
        alice.wait(lambda: second.get_attribute("aria-pressed") == "true", "Space to select the second seat")
        assert "selected" in second.get_attribute("aria-label")
        held = [first.get_attribute("data-seat-id"), second.get_attribute("data-seat-id")]
        assert alice.find("#hold-selected").text == "Hold 2 seats", alice.find("#hold-selected").text
        check("seats are labelled for screen readers and chosen by click and by keyboard")

        # Alice holds them; Bob, who had the first selected, sees them held (and loses it from
        # his selection, with a message), then free when she releases them.
        bob.seat(row, number).click()
        bob.wait(lambda: bob.status(held[0]) == "selected", "Bob's selection of the same seat")
        alice.click("#hold-selected")
        alice.present("#hold-countdown", "the hold's countdown")
        countdown = alice.text_of("#hold-countdown")
        assert re.fullmatch(r"\d+:\d\d", countdown), countdown
        alice.wait_status(held, "yours")
        alice.click("#extend-hold", "More time")
        alice.wait(lambda: "1 left" in alice.find("#extend-hold").text, "the extension to be counted")
        took = bob.wait_status(held, "held")
        assert "held by someone else" in bob.seat_by_id(held[0]).get_attribute("aria-label")
        bob.wait(lambda: "just taken" in bob.text_of("#panel-alert"), "Bob's 'just taken' warning")
        assert bob.find("#hold-selected").get_attribute("disabled") is not None, "the seat left Bob's selection"
        check(f"Alice holds {row}{number} and {row}{number + 1} (countdown {countdown}) and extends; Bob sees them held after {took:.2f}s")
        bob.screenshot("seatmap-held-by-other", ".map-card")
        alice.screenshot("seatmap-held-by-you", ".booking-layout")

        alice.click("#release-hold")
        alice.present("#hold-selected", "the selection panel again")
        took = bob.wait_status(held, "available")
        check(f"Alice releases them; Bob sees them free after {took:.2f}s")

        # Nothing lets Bob's WebSocket through: his page follows the event stream instead.
        bob.refuse_websockets()
        bob.driver.refresh()
        bob.wait_map()
        bob.wait(lambda: bob.transport() == "sse", "the event-stream fallback")
        alice.seat(row, number).click()
        alice.click("#hold-selected")
        alice.present("#hold-countdown", "Alice's hold again")
        took = bob.wait_status([held[0]], "held")
        alice.click("#release-hold")
        alice.present("#hold-selected", "the selection panel again")
        bob.wait_status([held[0]], "available")
        check(f"with WebSockets refused Bob's page follows the event stream (saw Alice's hold after {took:.2f}s)")

        # Both streams are cut: his page polls with If-None-Match and still sees Alice's hold.
        bob.block("*/showtimes/*/live*")
        bob.driver.refresh()
        bob.present(".seat", "the seat map")
        bob.wait(lambda: bob.find("#feed-status").get_attribute("data-mode") == "polling", "the polling fallback")
        alice.click("#hold-best", "Find and hold the best seats")
        alice.present("#hold-countdown", "the hold of the best seats")
        best = [e.get_attribute("data-seat-id") for e in alice.all('.seat[data-status="yours"]')]
        assert len(best) == 2, best
        took = bob.wait_status(best, "held")
        check(f"without the stream Bob's page polls and sees Alice's best-2 hold after {took:.2f}s")
        bob.block()
        bob.wait(lambda: bob.find("#feed-status").get_attribute("data-mode") == "live", "the stream to come back", timeout=30)
        check(f"the stream comes back ({bob.transport()}) and polling stops")

        # Bob's stream hangs (paused before it answers; no WebSocket gets through), so his page
        # never hears of Alice's next hold: the seat he then tries to hold is refused, and he is
        # told why.
        bob.pause("*/showtimes/*/live*")
        bob.driver.refresh()
        bob.present(".seat", "the seat map")
        alice.click("#release-hold")
        alice.present("#hold-selected", "the selection panel again")
        alice.wait_status(best, "available")
        row2, number2 = alice.free_pair(rows="ABCDE")
        bob.seat(row2, number2).click()
        alice.seat(row2, number2).click()
        alice.seat(row2, number2 + 1).click()
        alice.click("#hold-selected")
        alice.present("#hold-countdown", "Alice's second hold")
        assert bob.status(bob.seat(row2, number2).get_attribute("data-seat-id")) == "selected", "Bob's page is stale"
        bob.click("#hold-selected")  # signed out: the page asks him to sign in, then goes on
        bob.fill_sign_up("Bob", bob_email)
        bob.wait(lambda: "just taken" in bob.text_of("#panel-alert"), "Bob's 'just taken' message")
        message = bob.text_of("#panel-alert")
        assert f"Row {row2}, seat {number2}" in message, message
        bob.screenshot("seat-just-taken", ".booking-layout")
        bob.resume()
        bob.refuse_websockets(False)
        check(f"Bob, signing up when he holds, is refused a seat taken meanwhile: “{message}”")

        # Alice pays; she gets a ticket code and Bob (live again) sees the seats sold.
        bob.driver.refresh()
        bob.wait_map()
        bought = [e.get_attribute("data-seat-id") for e in alice.all('.seat[data-status="yours"]')]
        alice.click("#checkout", "Check out")
        alice.wait(lambda: "#/pay/" in alice.driver.current_url, "the payment page")
        alice.present("#pay", "the Pay button")
        alice.screenshot("payment")
        alice.click("#pay")
        code = alice.wait(lambda: alice.text_of("#ticket-code").strip(), "the ticket code", timeout=10)
        assert re.fullmatch(r"[A-Za-z0-9_-]{6,}", code), code
        alice.screenshot("ticket-page")
        alice.screenshot("ticket", "#ticket")
        # The QR code on the screen, as a door scanner sees it: decoded by zbarimg.
        alice.wait(lambda: alice.driver.execute_script(
            "const i = document.querySelector('#ticket-qr'); return i && i.complete && i.naturalWidth > 0"), "the QR code")
        alice.screenshot("ticket-qr", "#ticket-qr")
        scanned = subprocess.run(["zbarimg", "--quiet", "--raw", os.path.join(ARTIFACTS, "ticket-qr.png")],
                                 capture_output=True, text=True).stdout.strip()
        assert scanned == code, f"the QR code on screen reads {scanned!r}, not {code!r}"
        check("the ticket's QR code on screen scans as its ticket code")
        took = bob.wait_status(bought, "sold")
        bob.screenshot("seatmap-sold", ".map-card")
        check(f"Alice pays and gets ticket {code}; Bob sees her seats sold after {took:.2f}s")

        # Bob's payment is declined: he is told, and the seat is free again.
        row3, number3 = bob.free_pair(rows="KJI")
        bob.seat(row3, number3).click()
        bob.click("#hold-selected")
        bob.present("#hold-countdown")
        bob_seat = bob.seat(row3, number3).get_attribute("data-seat-id")
        bob.click("#checkout")
        bob.click("#pay-decline", "Simulate a declined payment")
        bob.wait(lambda: "declined" in bob.text_of("#pay-alert"), "the declined message")
        check(f"a declined payment says so: “{bob.text_of('#pay-alert')}”")
        alice.open(showtime_path)
        alice.wait_map()
        alice.wait_status([bob_seat], "available")
        check("the seats of a declined payment are free again")

        # My bookings: the ticket is listed and can be cancelled.
        alice.open("/#/bookings")
        card = alice.present(".booking", "a booking in My bookings")
        assert code in card.text, card.text
        alice.screenshot("bookings")
        alice.click(".booking .button--danger-text", "Cancel")
        alice.present("#confirm-dialog[open]", "the confirmation dialog")
        alice.click("#confirm-yes")
        alice.wait(lambda: "Cancelled" in alice.text_of(".booking .badge"), "the booking to be cancelled")
        check("my bookings lists the ticket and cancels it")

        # Sign out and back in.
        alice.click("#sign-out")
        alice.present("#sign-in", "being signed out")
        alice.sign_in(alice_email)
        assert "Alice" in alice.text_of("#account")
        check("sign out and sign in again")

        # The door: an admin scans tickets as a USB scanner types them (the code, then Enter).
        door = Page("door")
        pages.append(door)
        door.open("/")
        door.sign_in(os.environ["BOXOFFICE_ADMIN_EMAIL"], os.environ["BOXOFFICE_ADMIN_PASSWORD"])
        today_code = ticket_for_today()
        door.open("/#/door")
        door.present("#door-code", "the door's input")

        def scan(text, expected):
            door.driver.switch_to.active_element.send_keys(text + Keys.ENTER)
            door.wait(lambda: door.find("#door-result").get_attribute("data-result") == expected,
                      f"the door to answer {expected} for {text}")
            result = door.text_of("#door-result")
            door.wait(lambda: door.driver.execute_script("return document.activeElement.id") == "door-code",
                      "the input to keep the focus")
            return result

        if today_code:
            shown = scan(today_code, "valid")
            assert "Valid" in shown, shown
            door.screenshot("door-valid", "#door-result")
            shown = scan(today_code, "ticket_already_used")
            assert "Already used" in shown, shown
        shown = scan(code, "ticket_cancelled")  # Alice cancelled hers above
        assert "Cancelled" in shown, shown
        shown = scan("not-a-ticket-code", "ticket_unknown")
        assert "Unknown ticket" in shown, shown
        door.screenshot("door-unknown", "#door-result")
        assert len(door.all("#door-history li")) == (4 if today_code else 2)
        check("the door page checks typed codes: " + ("valid, already used, " if today_code else "") + "cancelled, unknown")

        # Staff of another cinema: the door names their cinema and refuses this cinema's ticket.
        _, admin = call("POST", "/auth/login", {"email": os.environ["BOXOFFICE_ADMIN_EMAIL"], "password": os.environ["BOXOFFICE_ADMIN_PASSWORD"]})
        _, listed = call("GET", "/admin/bookings?limit=200", token=admin["access_token"])
        home = next(item["cinema_id"] for item in listed["items"] if item["ticket_code"] == code)
        _, cinemas = call("GET", "/cinemas")
        elsewhere = next(cinema for cinema in cinemas["items"] if cinema["id"] != home)
        usher_email = f"usher-{uuid.uuid4().hex[:8]}@e2e.test"
        _, usher = call("POST", "/auth/signup", {"email": usher_email, "password": PASSWORD, "name": "Usher"})
        status, made = call("PUT", f"/admin/users/{usher['user']['id']}/role", {"role": "staff", "cinema_id": elsewhere["id"]},
                            token=admin["access_token"])
        assert status == 200, (status, made)
        door.click("#sign-out")
        door.present("#sign-in", "being signed out")
        door.sign_in(usher_email)
        door.open("/#/door")
        door.present("#door-code", "the door's input")
        door.wait(lambda: elsewhere["name"] in door.text_of("#door-cinema"), "the door to name the usher's cinema")
        shown = scan(code, "other_cinema")
        assert "Another cinema" in shown, shown
        door.screenshot("door-other-cinema", "#door-result")
        check(f"staff of {elsewhere['name']} see their cinema at the door and another cinema's ticket is refused")

        # Reports: the usher sees their own cinema's figures (the API's, for the same period)
        # and cannot pick another cinema; the CSV downloads the same report.
        import datetime
        from zoneinfo import ZoneInfo
        assert not alice.find('a[data-nav="reports"]').is_displayed(), "no Reports link for customers"
        door.present('a[data-nav="reports"]', "the Reports link for staff")
        _, login = call("POST", "/auth/login", {"email": usher_email, "password": PASSWORD})
        usher_token = login["access_token"]

        def set_day(css, value):  # as the date picker does: a new value, then "change"
            door.driver.execute_script("const i = document.querySelector(arguments[0]); i.value = arguments[1];"
                                       "i.dispatchEvent(new Event('change', { bubbles: true }));", css, value)

        door.click('a[data-nav="reports"]', "the Reports link")
        door.present("#revenue-table", "the revenue table")
        door.wait(lambda: elsewhere["name"] in door.text_of("#reports-own-cinema"), "the reports to name the usher's cinema")
        assert elsewhere["city"] in door.text_of("#reports-own-cinema"), door.text_of("#reports-own-cinema")
        assert not door.all("#reports-cinema"), "staff have no cinema select"
        assert not door.all('#reports-group option[value="cinema"]'), "staff cannot group by cinema"
        first, last = (datetime.date.fromisoformat(door.find(f"#reports-{name}").get_attribute("value")) for name in ("from", "to"))
        local_today = datetime.datetime.now(ZoneInfo(elsewhere["time_zone"])).date()
        assert last - first == datetime.timedelta(days=6) and abs(last - local_today) <= datetime.timedelta(days=1), (first, last)
        assert door.text_of("#revenue-table caption").startswith("Revenue by movie"), door.text_of("#revenue-table caption")
        # A week on from the default (the demo programme starts tomorrow), so there is something to count.
        last = last + datetime.timedelta(days=7)
        set_day("#reports-to", last.isoformat())
        query = f"from={first.isoformat()}&to={last.isoformat()}&group_by=movie"
        status, report = call("GET", f"/admin/reports/revenue?{query}", token=usher_token)
        assert status == 200 and report["totals"], (status, report)
        door.wait(lambda: shows_report(door, report), f"the usher's table to show the API's report {expected_report(report)}")
        assert report["time_zone"] in door.text_of("#reports-zone"), door.text_of("#reports-zone")
        door.screenshot("reports-staff")
        downloads = os.path.join(ARTIFACTS, "downloads")
        shutil.rmtree(downloads, ignore_errors=True)
        os.makedirs(downloads)
        door.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
        door.click("#reports-csv", "Download CSV")
        csv_path = os.path.join(downloads, f"revenue-by-movie-{first.isoformat()}-{last.isoformat()}.csv")
        door.wait(lambda: os.path.exists(csv_path), f"the CSV download {csv_path} (have {os.listdir(downloads)})", timeout=10)
        with open(csv_path, encoding="utf-8", newline="") as file:
            downloaded = file.read()
        assert downloaded == call_csv(f"/admin/reports/revenue?{query}", usher_token), downloaded
        assert len(downloaded.splitlines()) == len(report["groups"]) + 1, downloaded
        count, totals = shown_report(door)
        check(f"staff reports: the usher sees {elsewhere['name']}'s revenue ({count} movies, totals {totals}), no cinema select; "
              "the CSV download is the API's")

        # The admin: every cinema, or one; choosing one shows that cinema's figures.
        door.click("#sign-out")
        door.present("#sign-in", "being signed out")
        assert not door.find('a[data-nav="reports"]').is_displayed(), "no Reports link when signed out"
        door.open("/")
        door.sign_in(os.environ["BOXOFFICE_ADMIN_EMAIL"], os.environ["BOXOFFICE_ADMIN_PASSWORD"])
        _, login = call("POST", "/auth/login", {"email": os.environ["BOXOFFICE_ADMIN_EMAIL"], "password": os.environ["BOXOFFICE_ADMIN_PASSWORD"]})
        admin_token = login["access_token"]
        door.click('a[data-nav="reports"]', "the Reports link")
        picker = door.present("#reports-cinema", "the admin's cinema select")
        options = [(o.get_attribute("value"), o.text) for o in Select(picker).options]
        assert options[0] == ("", "All cinemas"), options
        assert {value for value, _ in options[1:]} == {str(c["id"]) for c in cinemas["items"]}, (options, cinemas)
        assert all(any(c["name"] in text for _, text in options) for c in cinemas["items"]), options
        door.present("#revenue-table", "the revenue table")
        first = datetime.date.fromisoformat(door.find("#reports-from").get_attribute("value"))
        last = first + datetime.timedelta(days=13)
        set_day("#reports-to", last.isoformat())
        Select(door.find("#reports-group")).select_by_value("cinema")
        query = f"from={first.isoformat()}&to={last.isoformat()}&group_by=cinema"
        _, chain = call("GET", f"/admin/reports/revenue?{query}", token=admin_token)
        door.wait(lambda: shows_report(door, chain), f"the chain's report {expected_report(chain)}")
        assert len(chain["groups"]) > 1, chain
        _, one = call("GET", f"/admin/reports/revenue?{query}&cinema={home}", token=admin_token)
        assert expected_report(one) != expected_report(chain), (one, chain)
        Select(door.find("#reports-cinema")).select_by_value(str(home))
        door.wait(lambda: shows_report(door, one), f"cinema {home}'s report {expected_report(one)}")
        home_name = next(c["name"] for c in cinemas["items"] if c["id"] == home)
        assert home_name in door.text_of("#revenue-table caption"), door.text_of("#revenue-table caption")
        door.screenshot("reports-admin-cinema")
        check(f"admin reports: a cinema select with all {len(cinemas['items'])} cinemas; the chain's {len(chain['groups'])} cinemas, "
              f"then {home_name}'s figures alone, as the API reports them")

        # A premiere with a waiting room. Alice (signed in) opens it and is in the line at once;
        # while staff hold admission she sees her place and a progress bar, and when they resume
        # it her page moves on to the seat map by itself, where she holds seats with her pass.
        room_id = another_showtime(int(showtime_path.rsplit("/", 1)[1]))
        _, login = call("POST", "/auth/login", {"email": os.environ["BOXOFFICE_ADMIN_EMAIL"], "password": os.environ["BOXOFFICE_ADMIN_PASSWORD"]})
        admin = login["access_token"]
        status, _ = call("PUT", f"/admin/showtimes/{room_id}", {"waiting_room": "always"}, token=admin)
        assert status == 200, status
        status, _ = call("PUT", f"/admin/showtimes/{room_id}/queue", {"paused": True}, token=admin)
        assert status == 200, status
        alice.open(f"/#/showtime/{room_id}")
        alice.wait(lambda: alice.find("#queue").get_attribute("data-status") == "waiting", "the waiting room")
        alice.wait(lambda: "Number 1 in line" in alice.text_of("#queue-position"), "her place in the line")
        assert alice.find("#queue-progress").get_attribute("max") == "100"
        assert alice.driver.execute_script("return document.querySelector('.booking-layout').hidden"), "no seat map while waiting"
        alice.screenshot("waiting-room", "#queue")
        alice.wait(lambda: alice.find("#queue").get_attribute("data-transport") == "stream", "the page to follow her ticket's stream")
        status, figures = call("PUT", f"/admin/showtimes/{room_id}/queue", {"paused": False}, token=admin)
        resumed = time.monotonic()
        assert status == 200 and figures["waiting"] == 1, (status, figures)
        alice.wait(lambda: alice.find("#queue").get_attribute("data-status") == "admitted", "her turn", timeout=10)
        turn_after = time.monotonic() - resumed
        assert alice.find("#queue").get_attribute("data-transport") == "stream", "her turn came over the stream"
        alice.wait_map()
        alice.click("#hold-best", "Find and hold the best seats")
        alice.present("#hold-countdown", "the hold made with her queue pass")
        alice.click("#release-hold")
        alice.present("#hold-selected", "the selection panel again")
        check(f"a waiting room: Alice's place and progress while admission is held, then her turn pushed over her ticket's stream "
              f"({turn_after:.2f}s after admission resumed), the seat map by itself and a hold with her pass")

        # A phone-sized look at the seat map, for the record.
        phone = Page("phone", 390, 844)
        pages.append(phone)
        phone.open(showtime_path)
        phone.wait_map()
        phone.screenshot("phone-seatmap")

        for page in pages:
            errors = page.script_errors()
            assert not errors, f"{page.name}: script errors: {errors}"
        check("no script errors in any browser")
        log(f"screenshots: {ARTIFACTS}")
        return 0
    except Exception:  # noqa: BLE001 — report, save what the browsers show, fail
        traceback.print_exc()
        for page in pages:
            try:
                page.screenshot(f"failure-{page.name}")
                for entry in page.driver.get_log("browser") + page.console:
                    log(f"  {page.name} console: {entry['message']}")
            except Exception:  # noqa: BLE001
                pass
        log(f"FAIL browser test; screenshots: {ARTIFACTS}")
        return 1
    finally:
        for page in pages:
            page.quit()


if __name__ == "__main__":
    sys.exit(main())
