#!/usr/bin/env python3
"""A ticket bought through the API reaches its buyer by e-mail: the confirmation names the
ticket code, and its attached QR code, decoded by zbarimg, is that code. Cancelling the booking
sends a cancellation and a refund notice. The mail goes over SMTP (libcurl) to the aiosmtpd
sink scripts/e2e started; this reads the sink's maildir."""

import email
import email.policy
import json
import mailbox
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

BASE = os.environ["BOXOFFICE_E2E_URL"].rstrip("/")
MAILDIR = os.environ["BOXOFFICE_E2E_MAILDIR"]


def call(method, path, body=None, token=None):
    request = urllib.request.Request(BASE + path, data=None if body is None else json.dumps(body).encode(), method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def messages_to(address, count, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = []
        if os.path.isdir(MAILDIR):
            for message in mailbox.Maildir(MAILDIR, factory=None, create=False):
                parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
                if address in str(parsed["To"]):
                    found.append(parsed)
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"waited {timeout}s for {count} message(s) to {address}")


def check(what):
    print(f"ok   {what}", flush=True)


def main():
    address = f"mail-{uuid.uuid4().hex[:8]}@e2e.test"
    status, person = call("POST", "/auth/signup", {"email": address, "password": "correct-horse-battery", "name": "Mail"})
    assert status == 201, (status, person)
    token = person["access_token"]
    _, listed = call("GET", "/showtimes?date=" + time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400)))
    showtime = listed["items"][-1]["id"]
    status, hold = call("POST", f"/showtimes/{showtime}/holds", {"count": 2}, token=token)
    assert status == 201, (status, hold)
    status, checkout = call("POST", f"/holds/{hold['id']}/checkout", token=token)
    assert status == 201, (status, checkout)
    status, paid = call("POST", f"/sandbox/payments/{checkout['payment_id']}", {"outcome": "succeed"}, token=token)
    assert status == 200 and paid["outcome"] == "confirmed", (status, paid)
    _, booking = call("GET", f"/bookings/{checkout['booking_id']}", token=token)
    code = booking["ticket_code"]

    [confirmation] = messages_to(address, 1)
    assert "Your tickets" in confirmation["Subject"], confirmation["Subject"]
    text = confirmation.get_body(preferencelist=("plain",)).get_content()
    assert f"Ticket code: {code}" in text, text
    png = next(part for part in confirmation.iter_attachments() if part.get_content_type() == "image/png")
    with tempfile.NamedTemporaryFile(suffix=".png") as image:
        image.write(png.get_content())
        image.flush()
        decoded = subprocess.run(["zbarimg", "--raw", "-q", image.name], capture_output=True, text=True, check=True).stdout.strip()
    assert decoded == code, (decoded, code)
    check(f"the confirmation e-mail names ticket {code} and its attached QR code decodes to it")

    status, _ = call("POST", f"/bookings/{checkout['booking_id']}/cancel", token=token)
    assert status in (200, 204), status
    subjects = sorted(message["Subject"] for message in messages_to(address, 3))
    assert any(s.startswith("Booking cancelled") for s in subjects), subjects
    assert any(s.startswith("Refund") for s in subjects), subjects
    check("cancelling sends a cancellation and a refund notice")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # noqa: BLE001
        print(f"FAIL mail: {error!r}", flush=True)
        sys.exit(1)
