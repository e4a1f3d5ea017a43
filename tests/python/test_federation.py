"""Federated sign-in through the hosted pages (issue 14): real OpenID
providers (a second cognate, and the `oidc-provider` npm package), Chromium
at the wheel, openid-client as the app verifying the ID token; then the
failures a provider or an attacker can cause, each ending on the error page
or at the app with Cognito's `error`, never with a session."""

import http.server
import json
import re
import secrets
import shutil
import subprocess
import threading
import urllib.parse

import pytest
import requests

from conftest import ARTIFACTS, PASSWORD, ROOT, Server, make_user, unique

JS = ROOT / "tests" / "js"


class Landing:
    """The app's redirect target: a page that answers 200 to anything."""

    def __init__(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"signed in")

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/callback"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def landing():
    page = Landing()
    yield page
    page.close()


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    """A second cognate: the OpenID provider of the first."""
    s = Server(tmp_path_factory.mktemp("upstream")).start()
    yield s
    assert s.stop() == 0


def browser_sign_in(payload):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["node", str(JS / "federation-browser.mjs")], input=json.dumps(payload),
                         capture_output=True, text=True, timeout=120, cwd=JS,
                         env={"PATH": "/usr/bin:/bin", "CHROMIUM": shutil.which("chromium"), "HOME": str(ARTIFACTS)})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ok"], result
    return result


def app_client(admin, server, providers, landing, **extra):
    return admin.create_user_pool_client(
        UserPoolId=server["UserPoolId"], ClientName=unique("fed-app"), AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid", "email", "profile"],
        CallbackURLs=[landing.url], SupportedIdentityProviders=providers, **extra,
    )["UserPoolClient"]["ClientId"]


def upstream_client(upstream, callback):
    """An app client of the upstream cognate for the first one's callback."""
    return upstream.client().create_user_pool_client(
        UserPoolId=upstream["UserPoolId"], ClientName=unique("downstream"), GenerateSecret=True,
        AllowedOAuthFlowsUserPoolClient=True, AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid", "email", "profile"], CallbackURLs=[callback],
        SupportedIdentityProviders=["COGNITO"],
    )["UserPoolClient"]


def test_sign_in_through_a_second_cognate_as_oidc_provider(server, admin, upstream, landing):
    up = upstream_client(upstream, server["HostedUiUrl"] + "/oauth2/idpresponse")
    person = make_user(upstream)
    up_admin = upstream.client()
    up_admin.admin_update_user_attributes(UserPoolId=upstream["UserPoolId"], Username=person, UserAttributes=[
        {"Name": "email", "Value": f"{person}@upstream.test"}, {"Name": "email_verified", "Value": "true"},
        {"Name": "name", "Value": "First Name"}])
    upstream_sub = next(a["Value"] for a in up_admin.admin_get_user(
        UserPoolId=upstream["UserPoolId"], Username=person)["UserAttributes"] if a["Name"] == "sub")
    name = unique("Up")
    admin.create_identity_provider(
        UserPoolId=server["UserPoolId"], ProviderName=name, ProviderType="OIDC",
        ProviderDetails={"client_id": up["ClientId"], "client_secret": up["ClientSecret"],
                         "attributes_request_method": "GET", "oidc_issuer": upstream["IssuerUrl"],
                         "authorize_scopes": "openid email profile"},
        AttributeMapping={"email": "email", "email_verified": "email_verified", "name": "name"})
    client_id = app_client(admin, server, ["COGNITO", name], landing)
    common = {"issuer": server["IssuerUrl"], "clientId": client_id, "redirectUri": landing.url,
              "provider": name, "login": person, "password": PASSWORD}

    first = browser_sign_in({**common, "via": "button",
                             "screenshot": str(ARTIFACTS / "14-federation-buttons.png")})
    # The hosted page offered the button; the upstream's own page asked for the password.
    assert first["steps"][0].startswith(server["HostedUiUrl"] + "/login?")
    assert first["steps"][1].startswith(upstream["HostedUiUrl"] + "/login?")
    claims = first["claims"]
    assert claims["cognito:username"] == f"{name}_{upstream_sub}"
    assert claims["email"] == f"{person}@upstream.test" and claims["name"] == "First Name"
    assert claims["email_verified"] is True
    [identity] = claims["identities"]
    assert identity == {"userId": upstream_sub, "providerName": name, "providerType": "OIDC", "issuer": None,
                        "primary": "true", "dateCreated": identity["dateCreated"]}
    assert identity["dateCreated"].isdigit()
    user = admin.admin_get_user(UserPoolId=server["UserPoolId"], Username=claims["cognito:username"])
    assert user["UserStatus"] == "EXTERNAL_PROVIDER"
    attrs = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    assert json.loads(attrs["identities"])[0]["primary"] is True

    # The person's name changes at the provider: the next sign-in (straight
    # to the provider with identity_provider=) maps it again.
    up_admin.admin_update_user_attributes(UserPoolId=upstream["UserPoolId"], Username=person,
                                          UserAttributes=[{"Name": "name", "Value": "Second Name"}])
    second = browser_sign_in({**common, "via": "param"})
    assert second["steps"][0].startswith(upstream["HostedUiUrl"] + "/login?")
    assert second["claims"]["name"] == "Second Name"
    assert second["claims"]["sub"] == claims["sub"]


@pytest.fixture(scope="module")
def oidc_provider(server, tmp_path_factory):
    """The `oidc-provider` package serving one client: the first cognate."""
    folder = tmp_path_factory.mktemp("oidc-provider")
    accounts = folder / "accounts.json"
    accounts.write_text("{}")
    secret = secrets.token_urlsafe(24)
    proc = subprocess.Popen(["node", str(JS / "oidc-provider-server.mjs")], cwd=JS, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=open(folder / "provider.log", "wb"), text=True)
    proc.stdin.write(json.dumps({"clientId": "cognate", "clientSecret": secret, "accountsFile": str(accounts),
                                 "redirectUri": server["HostedUiUrl"] + "/oauth2/idpresponse"}))
    proc.stdin.close()
    line = proc.stdout.readline()
    assert line, (folder / "provider.log").read_text()
    yield {"issuer": json.loads(line)["issuer"], "secret": secret, "accounts": accounts, "log": folder / "provider.log"}
    proc.terminate()
    proc.wait(timeout=10)


def test_sign_in_through_oidc_provider_from_npm(server, admin, oidc_provider, landing):
    login = unique("alice")
    oidc_provider["accounts"].write_text(json.dumps({login: {
        "email": f"{login}@idp.test", "email_verified": True, "given_name": "Alice", "zoneinfo": "Europe/Paris"}}))
    name = unique("Panva")
    admin.create_identity_provider(
        UserPoolId=server["UserPoolId"], ProviderName=name, ProviderType="OIDC",
        ProviderDetails={"client_id": "cognate", "client_secret": oidc_provider["secret"],
                         "attributes_request_method": "GET", "oidc_issuer": oidc_provider["issuer"],
                         "authorize_scopes": "openid email profile"},
        AttributeMapping={"email": "email", "given_name": "given_name", "zoneinfo": "zoneinfo"})
    client_id = app_client(admin, server, [name], landing)
    common = {"issuer": server["IssuerUrl"], "clientId": client_id, "redirectUri": landing.url,
              "provider": name, "login": login, "password": "any"}
    first = browser_sign_in({**common, "via": "button"})
    claims = first["claims"]
    # oidc-provider puts only `sub` in its ID token: the rest came by userinfo.
    assert claims["cognito:username"] == f"{name}_{login}"
    assert claims["email"] == f"{login}@idp.test" and claims["given_name"] == "Alice"
    assert claims["zoneinfo"] == "Europe/Paris"
    assert claims["identities"][0]["userId"] == login
    oidc_provider["accounts"].write_text(json.dumps({login: {
        "email": f"{login}@idp.test", "email_verified": True, "given_name": "Alicia", "zoneinfo": "Europe/Paris"}}))
    second = browser_sign_in({**common, "via": "param"})
    assert second["claims"]["given_name"] == "Alicia" and second["claims"]["sub"] == claims["sub"]


def test_a_client_without_cognito_shows_only_its_providers(server, admin, landing):
    name = unique("Only")
    admin.create_identity_provider(
        UserPoolId=server["UserPoolId"], ProviderName=name, ProviderType="OIDC",
        ProviderDetails={"client_id": "x", "attributes_request_method": "GET",
                         "oidc_issuer": "http://127.0.0.1:9/", "authorize_scopes": "openid"})
    client_id = app_client(admin, server, [name], landing)
    query = urllib.parse.urlencode({"client_id": client_id, "response_type": "code", "redirect_uri": landing.url})
    page = requests.get(f"{server['HostedUiUrl']}/login?{query}", timeout=10)
    assert page.status_code == 200
    assert f"Continue with {name}" in page.text and 'name="password"' not in page.text
    # identity_provider=COGNITO is refused for that client.
    r = requests.get(f"{server['HostedUiUrl']}/oauth2/authorize?{query}&identity_provider=COGNITO",
                     allow_redirects=False, timeout=10)
    assert r.status_code == 302 and "error=invalid_request" in r.headers["Location"]
    assert r.headers["Location"].startswith(landing.url)
    # An unknown provider too.
    r = requests.get(f"{server['HostedUiUrl']}/oauth2/authorize?{query}&identity_provider=Nope",
                     allow_redirects=False, timeout=10)
    assert r.status_code == 302 and "error=invalid_request" in r.headers["Location"]
    # A password POST to the sign-in page is refused too.
    session = requests.Session()
    page = session.get(f"{server['HostedUiUrl']}/login?{query}", timeout=10)
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text)
    assert csrf is None


def test_idp_identifier_goes_to_the_provider_with_that_identifier(server, admin, landing):
    name = unique("Ident")
    domain = f"{name.lower()}.example"
    admin.create_identity_provider(
        UserPoolId=server["UserPoolId"], ProviderName=name, ProviderType="OIDC", IdpIdentifiers=[domain],
        ProviderDetails={"client_id": "x", "attributes_request_method": "GET", "oidc_issuer": "http://127.0.0.1:9",
                         "authorize_scopes": "openid", "authorize_url": "http://127.0.0.1:9/authorize",
                         "token_url": "http://127.0.0.1:9/token", "attributes_url": "http://127.0.0.1:9/userinfo",
                         "jwks_uri": "http://127.0.0.1:9/jwks"})
    client_id = app_client(admin, server, ["COGNITO", name], landing)
    query = urllib.parse.urlencode({"client_id": client_id, "response_type": "code", "redirect_uri": landing.url,
                                    "idp_identifier": domain, "state": "s1"})
    r = requests.get(f"{server['HostedUiUrl']}/oauth2/authorize?{query}", allow_redirects=False, timeout=10)
    assert r.status_code == 302
    to = urllib.parse.urlsplit(r.headers["Location"])
    assert f"{to.scheme}://{to.netloc}{to.path}" == "http://127.0.0.1:9/authorize"
    q = dict(urllib.parse.parse_qsl(to.query))
    assert q["client_id"] == "x" and q["redirect_uri"] == server["HostedUiUrl"] + "/oauth2/idpresponse"
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert q["nonce"] and q["state"] and q["state"] != "s1" and q["scope"] == "openid"
    binding = r.cookies.get("cognate_federation")
    assert binding and "HttpOnly" in r.headers["Set-Cookie"]
