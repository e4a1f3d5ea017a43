"""A real SAML 2.0 identity provider for the tests, built on pysaml2's IdP
(`saml2.server.Server`, responses signed by xmlsec1): metadata at
/metadata, SingleSignOnService with the HTTP-Redirect and HTTP-POST
bindings, a sign-in form, and the response sent back with the HTTP-POST
binding (pysaml2's auto-submitting form). Knobs let a test ask for an
unsigned response, a response for another audience or an expired one; the
last response is kept so a test can tamper with it or replay it."""

import datetime
import http.server
import pathlib
import secrets
import threading
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server as Saml2Server

OTHER_SP = "urn:example:another-service-provider"


def self_signed(folder):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-idp")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    key_path, cert_path = folder / "idp.key", folder / "idp.crt"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def sp_metadata(entity_id, acs, cert=None, slo=None):
    key = (f'<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
           f'<ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>'
           f'</md:KeyDescriptor>') if cert else ""
    logout = f'<md:SingleLogoutService Binding="{BINDING_HTTP_REDIRECT}" Location="{slo}"/>' if slo else ""
    return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    {key}{logout}
    <md:AssertionConsumerService Binding="{BINDING_HTTP_POST}" Location="{acs}" index="0"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"""


class SamlIdp:
    def __init__(self, folder, sp_entity_id, acs, bindings=("redirect", "post"), sp_cert=None, sp_slo=None):
        folder = pathlib.Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.key_file, self.cert_file = self_signed(folder)
        self.sp_entity_id, self.acs = sp_entity_id, acs
        self.people = {}
        self.pending = {}
        self.sign_response, self.sign_assertion = False, True
        self.audience = sp_entity_id
        self.expired = False
        self.last_response = None
        self.requests = []
        self.logouts = []
        # The SP's certificate (base64 DER) to encrypt assertions to.
        self.encrypt_for = None
        self.sp_cert, self.sp_slo = sp_cert, sp_slo
        idp = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send(self, status, body, content_type="text/html"):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/metadata":
                    return self.send(200, idp.metadata, "application/samlmetadata+xml")
                if url.path == "/sso/redirect":
                    return self.send(200, idp.authn(q, BINDING_HTTP_REDIRECT))
                if url.path == "/slo":
                    location = idp.logout(url.query, q)
                    self.send_response(303)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                return self.send(404, "not found")

            def do_POST(self):
                url = urllib.parse.urlsplit(self.path)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                if url.path == "/sso/post":
                    return self.send(200, idp.authn(form, BINDING_HTTP_POST))
                if url.path == "/login":
                    return self.send(*idp.login(form))
                return self.send(404, "not found")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.entity_id = f"{self.base}/metadata"
        endpoints = []
        self.slo = [(f"{self.base}/slo", BINDING_HTTP_REDIRECT)] if sp_slo else []
        if "redirect" in bindings:
            endpoints.append((f"{self.base}/sso/redirect", BINDING_HTTP_REDIRECT))
        if "post" in bindings:
            endpoints.append((f"{self.base}/sso/post", BINDING_HTTP_POST))
        self.servers = {lifetime: Saml2Server(config=self.config(folder, endpoints, lifetime))
                        for lifetime in (15, -30)}
        self.metadata = str(entity_descriptor(self.servers[15].config))
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def config(self, folder, endpoints, lifetime):
        conf = IdPConfig()
        conf.load({
            "entityid": self.entity_id,
            "service": {"idp": {
                "endpoints": {"single_sign_on_service": endpoints, "single_logout_service": self.slo},
                "policy": {"default": {"lifetime": {"minutes": lifetime}, "attribute_restrictions": None,
                                       "name_form": NAME_FORMAT_BASIC}},
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
            }},
            "key_file": str(self.key_file),
            "cert_file": str(self.cert_file),
            "metadata": {"inline": [sp_metadata(self.sp_entity_id, self.acs, self.sp_cert, self.sp_slo),
                                    sp_metadata(OTHER_SP, self.acs)]},
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "allow_unknown_attributes": True,
        })
        return conf

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def authn(self, params, binding):
        req = self.servers[15].parse_authn_request(params["SAMLRequest"], binding)
        self.requests.append((binding, req.message))
        key = secrets.token_urlsafe(12)
        self.pending[key] = (req.message, params.get("RelayState"))
        return f"""<!doctype html><title>Test IdP</title><form method="post" action="/login">
<input type="hidden" name="key" value="{key}">
<label>User <input id="idp-user" name="user"></label>
<label>Password <input id="idp-password" name="password" type="password"></label>
<button type="submit">Sign in at the IdP</button></form>"""

    def login(self, form):
        request, relay_state = self.pending.pop(form["key"])
        person = self.people.get(form.get("user"))
        if person is None or person["password"] != form.get("password"):
            return 401, "wrong user or password"
        server = self.servers[-30 if self.expired else 15]
        response = server.create_authn_response(
            identity=person["attributes"], in_response_to=request.id,
            destination=request.assertion_consumer_service_url, sp_entity_id=self.audience,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=person["name_id"]), userid=form["user"],
            sign_response=self.sign_response, sign_assertion=self.sign_assertion,
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
        )
        self.last_response = str(response)
        if self.encrypt_for:
            self.last_response = self.encrypted(self.last_response)
        args = server.apply_binding(BINDING_HTTP_POST, self.last_response,
                                    request.assertion_consumer_service_url, relay_state, response=True)
        return 200, args["data"]

    def unsolicited(self, login, relay_state):
        """An IdP-initiated response for `login` (answers no request): the
        fields the browser posts to the ACS."""
        person = self.people[login]
        server = self.servers[15]
        response = server.create_authn_response(
            identity=person["attributes"], in_response_to=None, destination=self.acs,
            sp_entity_id=self.sp_entity_id, userid=login,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=person["name_id"]),
            sign_response=False, sign_assertion=True,
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
        )
        self.last_response = str(response)
        import base64
        return {"SAMLResponse": base64.b64encode(self.last_response.encode()).decode(), "RelayState": relay_state}

    def logout(self, raw_query, q):
        """Single logout (HTTP-Redirect): the SP's signature over the query
        as sent is checked with the SP's certificate, then a LogoutResponse
        goes back to the SP's SingleLogoutService."""
        import base64

        from cryptography.hazmat.primitives.asymmetric import padding
        parts = raw_query.split("&")
        signed = "&".join(p for p in parts if not p.startswith("Signature="))
        signature = base64.b64decode(q["Signature"])
        cert = x509.load_der_x509_certificate(base64.b64decode(self.sp_cert))
        cert.public_key().verify(signature, signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        assert q["SigAlg"] == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        server = self.servers[15]
        request = server.parse_logout_request(q["SAMLRequest"], BINDING_HTTP_REDIRECT)
        message = request.message
        self.logouts.append({"name_id": message.name_id.text,
                             "session_index": [i.text for i in message.session_index],
                             "issuer": message.issuer.text})
        response = server.create_logout_response(message, [BINDING_HTTP_REDIRECT])
        args = server.apply_binding(BINDING_HTTP_REDIRECT, str(response), self.sp_slo, q["RelayState"],
                                    response=True)
        return dict(args["headers"])["Location"]

    def encrypted(self, response):
        """The response with its (signed) assertion encrypted to the SP's
        certificate by xmlsec1: AES-128-CBC content, RSA-OAEP key transport,
        inside an EncryptedAssertion (signed, then encrypted)."""
        import re
        import tempfile

        from saml2.sigver import pre_encryption_part
        m = re.search(r"<(\w+:)?Assertion[ >]", response)
        prefix = m.group(1) or ""
        end = response.index(f"</{prefix}Assertion>") + len(f"</{prefix}Assertion>")
        wrapped = (response[:m.start()] + f"<{prefix}EncryptedAssertion>" + response[m.start():end]
                   + f"</{prefix}EncryptedAssertion>" + response[end:])
        pem = "-----BEGIN CERTIFICATE-----\n" + self.encrypt_for + "\n-----END CERTIFICATE-----\n"
        with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
            f.write(pem)
        template = pre_encryption_part(msg_enc="http://www.w3.org/2001/04/xmlenc#aes128-cbc")
        return self.servers[15].sec.encrypt_assertion(wrapped, f.name, template, key_type="aes-128")
