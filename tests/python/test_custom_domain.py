"""Custom domains: requests whose Host is a pool's custom domain reach the
pool's domain routes on any listener; the issuer never comes from Host."""

import requests

from conftest import ROOT, Server


def test_custom_domain_by_host_name(tmp_path):
    demo = (ROOT / "examples" / "demo.toml").read_text()
    config = tmp_path / "custom.toml"
    config.write_text(demo.replace('domain = { prefix = "demo" }',
                                   'domain = { prefix = "demo", custom_domains = ["auth.example.test"] }', 1))
    s = Server(tmp_path / "data", config=config).start()
    try:
        for base in (s["CognitoEndpoint"], s["ApiUrl"]):
            token = requests.post(base + "/oauth2/token", headers={"Host": "Auth.Example.Test:443"}, timeout=10,
                                  auth=(s["MachineClientId"], s["MachineClientSecret"]),
                                  data={"grant_type": "client_credentials"})
            assert token.status_code == 200, (base, token.text)
        page = requests.get(s["CognitoEndpoint"] + "/login", headers={"Host": "auth.example.test"}, timeout=10, params={
            "client_id": s["UserPoolClientId"], "response_type": "code", "redirect_uri": "http://localhost:3000/"})
        assert page.status_code == 200 and "cognitoSignInForm" in page.text
        # Other hosts keep the main listener's routes; the issuer stays the configured one.
        other = requests.post(s["CognitoEndpoint"] + "/oauth2/token", headers={"Host": "evil.example"}, timeout=10,
                              data={"grant_type": "client_credentials"})
        assert other.status_code == 404
        d = requests.get(s["IssuerUrl"] + "/.well-known/openid-configuration", headers={"Host": "evil.example"},
                         timeout=10).json()
        assert d["issuer"] == s["IssuerUrl"]
    finally:
        s.stop()
