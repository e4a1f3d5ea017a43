"""Cookie-session helpers for the real-client tests that need a signed-in
browser session (WebSocket `$connect`, subdomain sessions, Chromium):
the hosted sign-in driven as a browser does and the cookies it leaves.
Cookies are handled by hand: they are `Secure`, which requests would not
send over http (browsers do on loopback). The sessions' HTTP behaviour
itself is pinned in process (crates/server/tests/it/sessions.rs)."""

import re

import requests

from conftest import PASSWORD


def set_cookies(response):
    return response.raw.headers.getlist("Set-Cookie")


def jar(response):
    """name -> value of the cookies a response sets (cleared ones dropped)."""
    out = {}
    for c in set_cookies(response):
        name, value = c.split(";", 1)[0].split("=", 1)
        if "Max-Age=0" in c:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def cookie_header(cookies):
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def hosted_code(server, user, url):
    """Signs in on the hosted pages at `url` (an authorize or login URL);
    returns the callback URL the browser is sent to."""
    browser = requests.Session()
    page = browser.get(url, allow_redirects=False)
    if page.status_code == 302:
        page = browser.get(server["HostedUiUrl"] + page.headers["Location"])
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
    action = re.search(r'action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    r = browser.post(server["HostedUiUrl"] + action, allow_redirects=False,
                     data={"_csrf": csrf, "username": user, "password": PASSWORD})
    assert r.status_code == 302, r.text
    return r.headers["Location"]


def signed_in(server, user):
    """The demo's SignInUrl story: returns the callback's answer and the
    session cookies."""
    callback = hosted_code(server, user, server["SignInUrl"])
    assert callback.startswith(server["ApiUrl"] + "/oauth2/callback?code=")
    r = requests.get(callback, allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"] == "/"
    return r, jar(r)


def logout(server, cookies, **headers):
    headers["Cookie"] = cookie_header(cookies)
    return requests.post(server["ApiUrl"] + "/logout", headers=headers, timeout=10)
