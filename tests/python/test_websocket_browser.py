"""Done-when 1 of the WebSocket issue, in headless Chromium: the demo's
cookie session opens WebSocketUrl from a page with the CSRF parameter,
echoes, broadcasts to a second browser, and is refused (no upgrade)
without the CSRF value, with a wrong one, without the cookie, and from a
foreign Origin (tests/js/websocket-browser.mjs)."""

import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import ARTIFACTS, PASSWORD, ROOT, make_user, unique

JS = ROOT / "tests" / "js"


class Attacker(BaseHTTPRequestHandler):
    """A page of another origin on the same host (cookies ignore ports)."""

    def do_GET(self):
        page = b"<!doctype html><title>another site</title><p>nothing to see"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *a):
        pass


def test_demo_websocket_in_chromium(server, admin):
    attacker = ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    foreign = f"http://127.0.0.1:{attacker.server_address[1]}"
    chromium = shutil.which("chromium")
    assert chromium, "scripts/test installs Debian's chromium"
    users = []
    for _ in range(2):
        name = make_user(server, unique("wsbrowser"), admin)
        users.append({"username": name, "password": PASSWORD})
    payload = {"signInUrl": server["SignInUrl"], "apiUrl": server["ApiUrl"], "webSocketUrl": server["WebSocketUrl"],
               "foreignUrl": foreign, "users": users}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["node", str(JS / "websocket-browser.mjs")], input=json.dumps(payload),
                         capture_output=True, text=True, timeout=120, cwd=JS,
                         env={"PATH": "/usr/bin:/bin", "CHROMIUM": chromium, "HOME": str(ARTIFACTS)})
    attacker.shutdown()
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["ok"], seen
    assert seen["echo"] == "hello from A"
    assert seen["broadcastA"] == "hi everyone" and seen["broadcastB"] == "hi everyone"
    # The chosen (echoed) subprotocol is the CSRF token itself.
    assert seen["byProtocol"]["opened"] and seen["byProtocol"]["protocol"] == seen["csrfA"]
    assert seen["foreignOrigin"] == foreign
    for refused in ("withoutCsrf", "wrongCsrf", "otherUsersCsrf", "withoutCookie", "fromForeignOrigin"):
        assert seen[refused]["opened"] is False and seen[refused].get("code") == 1006, (refused, seen[refused])
