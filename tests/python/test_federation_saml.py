"""SAML 2.0 federation (issue 14, done-when 3): a real SAML identity
provider (pysaml2's IdP, responses signed by xmlsec1) started by the tests;
SP-initiated sign-in in Chromium and by hand with both bindings, attributes
mapped; refused: an unsigned response, a signature-wrapped assertion, the
wrong audience, an expired assertion, a replayed response, XML with an
external entity."""

import base64
import html.parser
import re
import urllib.parse

import jwt
import pytest
import requests

from conftest import unique
from saml_idp import SamlIdp
from test_federation import Landing, browser_sign_in


# pysaml2 names attributes by their URN.
MAIL = "urn:mace:dir:attribute-def:mail"
GIVEN_NAME = "urn:mace:dir:attribute-def:givenName"


def element(xml, local):
    """The span of the first element named `local` (any prefix)."""
    m = re.search(rf"<(\w+:)?{local}[ >]", xml)
    prefix = m.group(1) or ""
    end = xml.index(f"</{prefix}{local}>") + len(f"</{prefix}{local}>")
    return m.start(), end, prefix


class Forms(html.parser.HTMLParser):
    """The forms of a page: action and fields."""

    def __init__(self, text):
        super().__init__()
        self.forms = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")


@pytest.fixture(scope="module")
def landing():
    page = Landing()
    yield page
    page.close()


def acs(server):
    return server["HostedUiUrl"] + "/saml2/idpresponse"


@pytest.fixture(scope="module")
def idp(server, tmp_path_factory):
    sp = f"urn:amazon:cognito:sp:{server['UserPoolId']}"
    provider = SamlIdp(tmp_path_factory.mktemp("saml-idp"), sp, acs(server))
    yield provider
    provider.close()


@pytest.fixture(scope="module")
def corp(server, admin, idp, landing):
    """The IdP as a SAML provider of the demo pool (metadata by URL) and an
    app client that signs in only through it."""
    name = unique("Corp")
    admin.create_identity_provider(
        UserPoolId=server["UserPoolId"], ProviderName=name, ProviderType="SAML",
        ProviderDetails={"MetadataURL": idp.base + "/metadata"},
        AttributeMapping={"email": MAIL, "given_name": GIVEN_NAME})
    client = admin.create_user_pool_client(
        UserPoolId=server["UserPoolId"], ClientName=unique("saml-app"), AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid", "email", "profile"], CallbackURLs=[landing.url],
        SupportedIdentityProviders=[name])["UserPoolClient"]["ClientId"]
    return {"name": name, "client": client}


def person(idp, given="Ada"):
    login = unique("ada")
    idp.people[login] = {"password": "idp-pass", "name_id": f"{login}-nameid",
                         "attributes": {"mail": [f"{login}@corp.test"], "givenName": [given]}}
    return login


class SamlFlow:
    """A browser played by hand: cognate -> IdP -> back with the response."""

    def __init__(self, server, corp, landing):
        self.server, self.corp, self.landing = server, corp, landing
        self.browser = requests.Session()

    def to_idp(self):
        q = {"client_id": self.corp["client"], "response_type": "code", "redirect_uri": self.landing.url,
             "identity_provider": self.corp["name"], "state": "app-state", "scope": "openid email"}
        r = self.browser.get(self.server["HostedUiUrl"] + "/oauth2/authorize?" + urllib.parse.urlencode(q),
                             allow_redirects=False, timeout=10)
        if r.status_code == 302:
            return self.browser.get(r.headers["Location"], timeout=10)
        form = Forms(r.text).forms[0]
        return self.browser.post(form["action"], data=form["fields"], timeout=10)

    def response(self, login):
        page = self.to_idp()
        key = Forms(page.text).forms[0]["fields"]["key"]
        idp_base = page.url.split("/sso/")[0]
        r = self.browser.post(idp_base + "/login", data={"key": key, "user": login, "password": "idp-pass"},
                              timeout=10)
        assert r.status_code == 200, r.text
        form = Forms(r.text).forms[0]
        return form["action"], form["fields"]

    def post(self, action, fields):
        return self.browser.post(action, data=fields, allow_redirects=False, timeout=10)

    def claims(self, answer):
        assert answer.status_code == 302, answer.text
        to = answer.headers["Location"]
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(to).query))
        assert to.startswith(self.landing.url) and "code" in q, to
        t = requests.post(self.server["HostedUiUrl"] + "/oauth2/token", timeout=10, data={
            "grant_type": "authorization_code", "code": q["code"], "client_id": self.corp["client"],
            "redirect_uri": self.landing.url})
        assert t.status_code == 200, t.text
        return jwt.decode(t.json()["id_token"], options={"verify_signature": False})


def refused(answer, landing):
    assert answer.status_code == 302, answer.text
    to = answer.headers["Location"]
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(to).query))
    assert to.startswith(landing.url) and "code" not in q, to
    assert q["error"] == "invalid_request" and q["state"] == "app-state"
    return q


def test_sp_initiated_sign_in_in_chromium(server, corp, idp, landing):
    login = person(idp)
    result = browser_sign_in({"issuer": server["IssuerUrl"], "clientId": corp["client"],
                              "redirectUri": landing.url, "provider": corp["name"], "via": "button",
                              "login": login, "password": "idp-pass"})
    claims = result["claims"]
    assert claims["cognito:username"] == f"{corp['name']}_{login}-nameid"
    assert claims["email"] == f"{login}@corp.test" and claims["given_name"] == "Ada"
    assert claims["identities"][0]["providerType"] == "SAML"
    binding, request = idp.requests[-1]
    assert binding.endswith("HTTP-Redirect")
    assert request.assertion_consumer_service_url == acs(server)
    assert request.issuer.text == f"urn:amazon:cognito:sp:{server['UserPoolId']}"


def test_sign_in_by_hand_maps_attributes_again_each_time(server, corp, idp, landing):
    login = person(idp)
    flow = SamlFlow(server, corp, landing)
    claims = flow.claims(flow.post(*flow.response(login)))
    assert claims["given_name"] == "Ada"
    idp.people[login]["attributes"]["givenName"] = ["Augusta"]
    again = SamlFlow(server, corp, landing)
    claims2 = again.claims(again.post(*again.response(login)))
    assert claims2["given_name"] == "Augusta" and claims2["sub"] == claims["sub"]


def test_http_post_binding_and_metadata_file(server, admin, landing, tmp_path):
    sp = f"urn:amazon:cognito:sp:{server['UserPoolId']}"
    post_only = SamlIdp(tmp_path / "idp", sp, acs(server), bindings=("post",))
    try:
        name = unique("Post")
        admin.create_identity_provider(
            UserPoolId=server["UserPoolId"], ProviderName=name, ProviderType="SAML",
            ProviderDetails={"MetadataFile": post_only.metadata}, AttributeMapping={"email": MAIL})
        client = admin.create_user_pool_client(
            UserPoolId=server["UserPoolId"], ClientName=unique("saml-post"), AllowedOAuthFlowsUserPoolClient=True,
            AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid", "email"], CallbackURLs=[landing.url],
            SupportedIdentityProviders=[name])["UserPoolClient"]["ClientId"]
        login = person(post_only)
        flow = SamlFlow(server, {"name": name, "client": client}, landing)
        claims = flow.claims(flow.post(*flow.response(login)))
        assert claims["email"] == f"{login}@corp.test"
        assert post_only.requests[-1][0].endswith("HTTP-POST")
    finally:
        post_only.close()


def tampered(fields, change):
    xml = base64.b64decode(fields["SAMLResponse"]).decode()
    return dict(fields, SAMLResponse=base64.b64encode(change(xml).encode()).decode())


@pytest.mark.parametrize("knob, bad", [
    ("sign_assertion", False),              # nothing signed at all
    ("audience", "urn:example:another-service-provider"),  # for another SP
    ("expired", True),                      # its time window is over
], ids=["unsigned", "wrong-audience", "expired"])
def test_a_response_the_idp_made_wrong_is_refused(server, admin, corp, idp, landing, knob, bad):
    login = person(idp)
    good = getattr(idp, knob)
    setattr(idp, knob, bad)
    try:
        flow = SamlFlow(server, corp, landing)
        refused(flow.post(*flow.response(login)), landing)
    finally:
        setattr(idp, knob, good)
    with pytest.raises(admin.exceptions.UserNotFoundException):
        admin.admin_get_user(UserPoolId=server["UserPoolId"], Username=f"{corp['name']}_{login}-nameid")


def test_signature_wrapped_assertion_is_refused(server, admin, corp, idp, landing):
    """XSW: the signed assertion stays (so its signature still verifies)
    and a forged one, for another person, is put before it."""
    victim = person(idp)
    attacker = person(idp)
    flow = SamlFlow(server, corp, landing)
    action, fields = flow.response(attacker)

    def forge(signed):
        forged = signed.replace(f"{attacker}-nameid", f"{victim}-nameid").replace(f"{attacker}@", f"{victim}@")
        forged = forged.replace('ID="', 'ID="forged', 1)
        sig_start, sig_end, _ = element(forged, "Signature")
        return forged, sig_start, sig_end

    def wrap(xml):
        start, end, _ = element(xml, "Assertion")
        signed = xml[start:end]
        forged, sig_start, sig_end = forge(signed)
        return xml[:start] + forged[:sig_start] + forged[sig_end:] + signed + xml[end:]

    refused(flow.post(action, tampered(fields, wrap)), landing)
    with pytest.raises(admin.exceptions.UserNotFoundException):
        admin.admin_get_user(UserPoolId=server["UserPoolId"], Username=f"{corp['name']}_{victim}-nameid")

    # The same with the genuine assertion hidden inside the forged one.
    flow = SamlFlow(server, corp, landing)
    action, fields = flow.response(attacker)

    def nest(xml):
        start, end, prefix = element(xml, "Assertion")
        signed = xml[start:end]
        forged, sig_start, sig_end = forge(signed)
        hidden = f"<{prefix}Advice>{signed}</{prefix}Advice>"
        return xml[:start] + forged[:sig_start] + hidden + forged[sig_end:] + xml[end:]

    refused(flow.post(action, tampered(fields, nest)), landing)


def test_replayed_response_is_refused(server, corp, idp, landing):
    login = person(idp)
    flow = SamlFlow(server, corp, landing)
    action, fields = flow.response(login)
    flow.claims(flow.post(action, fields))
    # The same POST again (the binding cookie went with the first sign-in,
    # so it is re-posted once): the state is gone, the error page.
    page = flow.post(action, fields)
    assert page.status_code == 200
    again = flow.post(action, Forms(page.text).forms[0]["fields"])
    assert again.status_code == 302 and again.headers["Location"] == "/error?error=invalid_request"
    # The same response under a new sign-in's RelayState: it answers
    # another request, and its assertion was used.
    other = SamlFlow(server, corp, landing)
    _, fresh = other.response(login)
    refused(other.post(action, dict(fields, RelayState=fresh["RelayState"])), landing)


def test_external_entity_is_refused(server, corp, idp, landing):
    login = person(idp)
    flow = SamlFlow(server, corp, landing)
    action, fields = flow.response(login)

    def xxe(xml):
        body = xml.split("?>", 1)[1] if xml.startswith("<?xml") else xml
        return ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                + body.replace(f"{login}@corp.test", "&xxe;"))

    refused(flow.post(action, tampered(fields, xxe)), landing)


def test_a_cross_site_post_is_reposted_from_this_site(server, corp, idp, landing):
    """Without the binding cookie (a cross-site POST carries none), the
    answer is a page that posts the response again from this site."""
    login = person(idp)
    flow = SamlFlow(server, corp, landing)
    action, fields = flow.response(login)
    page = requests.post(action, data=fields, allow_redirects=False, timeout=10)
    assert page.status_code == 200 and "script-src 'nonce-" in page.headers["Content-Security-Policy"]
    form = Forms(page.text).forms[0]
    assert form["action"] == "/saml2/idpresponse" and form["fields"]["cognate_reposted"] == "1"
    assert form["fields"]["SAMLResponse"] == fields["SAMLResponse"]
    # Re-posted by a browser that lacks the cookie: refused.
    stranger = requests.post(action, data=form["fields"], allow_redirects=False, timeout=10)
    assert stranger.headers["Location"] == "/error?error=invalid_request"


def test_a_changed_signed_assertion_is_refused(server, admin, corp, idp, landing):
    """Any change under the signature (here the NameID) breaks its digest."""
    login = person(idp)
    flow = SamlFlow(server, corp, landing)
    action, fields = flow.response(login)
    refused(flow.post(action, tampered(fields, lambda x: x.replace(f"{login}-nameid", "admin-nameid"))), landing)
    with pytest.raises(admin.exceptions.UserNotFoundException):
        admin.admin_get_user(UserPoolId=server["UserPoolId"], Username=f"{corp['name']}_admin-nameid")


def test_idp_initiated_sign_in_only_when_allowed_and_only_once(server, admin, idp, landing):
    """IDPInit: the IdP sends an unsolicited response whose RelayState is
    the app's authorization request; the app gets a code. Without IDPInit,
    or replayed, or asking for tokens in the fragment: refused."""
    pool = server["UserPoolId"]
    name = unique("Init")
    admin.create_identity_provider(UserPoolId=pool, ProviderName=name, ProviderType="SAML",
                                   ProviderDetails={"MetadataFile": idp.metadata, "IDPInit": "true"},
                                   AttributeMapping={"email": MAIL})
    client = admin.create_user_pool_client(
        UserPoolId=pool, ClientName=unique("saml-init"), AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthFlows=["code", "implicit"], AllowedOAuthScopes=["openid", "email"], CallbackURLs=[landing.url],
        SupportedIdentityProviders=[name])["UserPoolClient"]["ClientId"]
    relay = urllib.parse.urlencode({"client_id": client, "redirect_uri": landing.url, "response_type": "code",
                                    "scope": "openid email", "state": "app-state"})
    login = person(idp)
    fields = idp.unsolicited(login, relay)
    browser = requests.Session()
    page = browser.post(acs(server), data=fields, allow_redirects=False, timeout=10)
    # No binding cookie (nothing began here): posted again from this site, then taken.
    answer = browser.post(acs(server), data=Forms(page.text).forms[0]["fields"], allow_redirects=False, timeout=10)
    flow = SamlFlow(server, {"name": name, "client": client}, landing)
    claims = flow.claims(answer)
    assert claims["cognito:username"] == f"{name}_{login}-nameid" and claims["email"] == f"{login}@corp.test"

    # The same response again: its assertion was used.
    again = browser.post(acs(server), data=dict(fields, cognate_reposted="1"), allow_redirects=False, timeout=10)
    refused(again, landing)
    # Tokens in a fragment are not given this way.
    implicit = relay.replace("response_type=code", "response_type=token")
    r = browser.post(acs(server), data=dict(idp.unsolicited(login, implicit), cognate_reposted="1"),
                     allow_redirects=False, timeout=10)
    assert r.headers["Location"] == "/error?error=invalid_request"


def test_idp_initiated_is_refused_without_idp_init(server, admin, landing, tmp_path):
    sp = f"urn:amazon:cognito:sp:{server['UserPoolId']}"
    other = SamlIdp(tmp_path / "idp", sp, acs(server))
    try:
        name = unique("NoInit")
        admin.create_identity_provider(UserPoolId=server["UserPoolId"], ProviderName=name, ProviderType="SAML",
                                       ProviderDetails={"MetadataFile": other.metadata})
        client = admin.create_user_pool_client(
            UserPoolId=server["UserPoolId"], ClientName=unique("saml-noinit"), AllowedOAuthFlowsUserPoolClient=True,
            AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid"], CallbackURLs=[landing.url],
            SupportedIdentityProviders=[name])["UserPoolClient"]["ClientId"]
        relay = urllib.parse.urlencode({"client_id": client, "redirect_uri": landing.url,
                                        "response_type": "code", "scope": "openid", "state": "s"})
        fields = dict(other.unsolicited(person(other), relay), cognate_reposted="1")
        r = requests.post(acs(server), data=fields, allow_redirects=False, timeout=10)
        assert r.status_code == 302 and r.headers["Location"] == "/error?error=invalid_request"
    finally:
        other.close()


def test_single_logout_at_the_provider_with_idp_signout(server, admin, landing, tmp_path):
    """IDPSignout: /logout sends the browser to the IdP's SingleLogoutService
    with a LogoutRequest signed by the pool's key (the certificate of
    GetSigningCertificate verifies it), naming the person and the IdP
    session; the IdP's LogoutResponse at /saml2/logout leads on to the
    app's logout URI. The hosted session is gone; the answer is single use."""
    pool = server["UserPoolId"]
    cert = admin.get_signing_certificate(UserPoolId=pool)["Certificate"]
    sp = f"urn:amazon:cognito:sp:{pool}"
    slo_idp = SamlIdp(tmp_path / "idp", sp, acs(server), sp_cert=cert,
                      sp_slo=server["HostedUiUrl"] + "/saml2/logout")
    try:
        name = unique("Slo")
        admin.create_identity_provider(UserPoolId=pool, ProviderName=name, ProviderType="SAML",
                                       ProviderDetails={"MetadataFile": slo_idp.metadata, "IDPSignout": "true"},
                                       AttributeMapping={"email": MAIL})
        client = admin.create_user_pool_client(
            UserPoolId=pool, ClientName=unique("saml-slo"), AllowedOAuthFlowsUserPoolClient=True,
            AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid", "email"], CallbackURLs=[landing.url],
            LogoutURLs=[landing.url], SupportedIdentityProviders=[name])["UserPoolClient"]["ClientId"]
        login = person(slo_idp)
        flow = SamlFlow(server, {"name": name, "client": client}, landing)
        flow.claims(flow.post(*flow.response(login)))
        assert flow.browser.cookies.get("cognate_session")

        out = flow.browser.get(server["HostedUiUrl"] + "/logout?" + urllib.parse.urlencode(
            {"client_id": client, "logout_uri": landing.url}), allow_redirects=False, timeout=10)
        assert out.status_code == 302 and out.headers["Location"].startswith(slo_idp.base + "/slo?")
        assert "cognate_session" not in flow.browser.cookies
        back = flow.browser.get(out.headers["Location"], allow_redirects=False, timeout=10)
        assert back.status_code == 303 and back.headers["Location"].startswith(server["HostedUiUrl"] + "/saml2/logout?")
        [seen] = slo_idp.logouts
        assert seen["name_id"] == f"{login}-nameid" and seen["issuer"] == sp and seen["session_index"]
        done = flow.browser.get(back.headers["Location"], allow_redirects=False, timeout=10)
        assert done.status_code == 302 and done.headers["Location"] == landing.url
        again = flow.browser.get(back.headers["Location"], allow_redirects=False, timeout=10)
        assert again.headers["Location"] == "/error?error=invalid_request"
    finally:
        slo_idp.close()


def test_encrypted_assertion_is_decrypted_with_the_pools_key(server, admin, landing, tmp_path):
    """EncryptedResponses: the IdP encrypts the signed assertion to the
    pool's certificate (GetSigningCertificate); cognate decrypts it with its
    key and checks the signature inside. A provider without it refuses
    encrypted assertions."""
    pool = server["UserPoolId"]
    cert = admin.get_signing_certificate(UserPoolId=pool)["Certificate"]
    sp = f"urn:amazon:cognito:sp:{pool}"
    enc_idp = SamlIdp(tmp_path / "idp", sp, acs(server))
    enc_idp.encrypt_for = cert
    try:
        name = unique("Enc")
        admin.create_identity_provider(UserPoolId=pool, ProviderName=name, ProviderType="SAML",
                                       ProviderDetails={"MetadataFile": enc_idp.metadata, "EncryptedResponses": "true"},
                                       AttributeMapping={"email": MAIL})
        client = admin.create_user_pool_client(
            UserPoolId=pool, ClientName=unique("saml-enc"), AllowedOAuthFlowsUserPoolClient=True,
            AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid", "email"], CallbackURLs=[landing.url],
            SupportedIdentityProviders=[name])["UserPoolClient"]["ClientId"]
        login = person(enc_idp)
        flow = SamlFlow(server, {"name": name, "client": client}, landing)
        action, fields = flow.response(login)
        assert "EncryptedAssertion" in base64.b64decode(fields["SAMLResponse"]).decode()
        claims = flow.claims(flow.post(action, fields))
        assert claims["email"] == f"{login}@corp.test"
        # Without EncryptedResponses the provider's encrypted answers are refused.
        admin.update_identity_provider(UserPoolId=pool, ProviderName=name,
                                       ProviderDetails={"EncryptedResponses": "false"})
        flow = SamlFlow(server, {"name": name, "client": client}, landing)
        refused(flow.post(*flow.response(login)), landing)
    finally:
        enc_idp.close()
