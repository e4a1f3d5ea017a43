"""HTTPS on every listener: a development certificate made on first start
(its CA in <data-dir>/tls/ca.pem) or a certificate from the config."""

import json
import subprocess

import boto3
import pytest
import requests

from conftest import PASSWORD, ROOT, Server, unique

JS = ROOT / "tests" / "js"


def tls_config(tmp_path, extra=""):
    demo = (ROOT / "examples" / "demo.toml").read_text()
    path = tmp_path / f"tls{len(extra)}.toml"
    path.write_text(demo.replace('region = "us-east-1"\n', f'region = "us-east-1"\n\n[server.tls]\n{extra}', 1))
    return path


def client(s, ca):
    return boto3.client("cognito-idp", endpoint_url=s["CognitoEndpoint"], region_name="us-east-1", verify=str(ca),
                        aws_access_key_id=s["AdminAccessKeyId"], aws_secret_access_key=s["AdminSecretAccessKey"])


def test_development_certificate_serves_every_listener(tmp_path):
    s = Server(tmp_path / "data", config=tls_config(tmp_path)).start()
    ca = s.data_dir / "tls" / "ca.pem"
    try:
        for key in ("CognitoEndpoint", "HostedUiUrl", "ApiUrl", "IssuerUrl"):
            assert s[key].startswith("https://"), key
        assert s["WebSocketUrl"].startswith("wss://")
        admin = client(s, ca)
        name = unique("tls")
        admin.admin_create_user(UserPoolId=s["UserPoolId"], Username=name, MessageAction="SUPPRESS",
                                UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"},
                                                {"Name": "email_verified", "Value": "true"}])
        admin.admin_set_user_password(UserPoolId=s["UserPoolId"], Username=name, Password=PASSWORD, Permanent=True)
        tokens = admin.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=s["UserPoolClientId"],
                                     AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})["AuthenticationResult"]
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(s["IssuerUrl"] + "/.well-known/jwks.json", timeout=10)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(s["IssuerUrl"].replace("https://", "http://") + "/.well-known/jwks.json", timeout=10)
        assert requests.get(s["IssuerUrl"] + "/.well-known/jwks.json", verify=str(ca), timeout=10).status_code == 200
        # aws-jwt-verify's own https fetcher, trusting the CA as Node does.
        out = subprocess.run(["node", str(JS / "verify.mjs")], capture_output=True, text=True, timeout=60, cwd=JS,
                             env={"PATH": "/usr/bin:/bin", "NODE_EXTRA_CA_CERTS": str(ca)},
                             input=json.dumps({"mode": "generic", "issuer": s["IssuerUrl"], "tokenUse": "access",
                                               "jwksUri": s["IssuerUrl"] + "/.well-known/jwks.json",
                                               "clientId": s["UserPoolClientId"], "token": tokens["AccessToken"]}))
        assert json.loads(out.stdout)["ok"], out.stdout + out.stderr
        # Cookies of the hosted pages are Secure over https.
        page = requests.get(s["HostedUiUrl"] + "/login?client_id=" + s["UserPoolClientId"] +
                            "&response_type=code&redirect_uri=http://localhost:3000/", verify=str(ca), timeout=10)
        assert page.status_code == 200 and "Secure" in page.headers["Set-Cookie"]
        token = requests.post(s["HostedUiUrl"] + "/oauth2/token", verify=str(ca), timeout=10,
                              auth=(s["MachineClientId"], s["MachineClientSecret"]),
                              data={"grant_type": "client_credentials"})
        assert token.status_code == 200
        before = ca.read_bytes()
        assert s.restart() == 0
        assert ca.read_bytes() == before, "the certificate is kept across restarts"
        assert requests.get(s["IssuerUrl"] + "/.well-known/jwks.json", verify=str(ca), timeout=10).status_code == 200
    finally:
        s.stop()

    # The same files named in the config.
    files = f'cert_file = "{s.data_dir / "tls" / "cert.pem"}"\nkey_file = "{s.data_dir / "tls" / "key.pem"}"\n'
    other = Server(tmp_path / "data2", config=tls_config(tmp_path, files)).start()
    try:
        assert requests.get(other["IssuerUrl"] + "/.well-known/openid-configuration", verify=str(ca), timeout=10).json()["issuer"] \
            == other["IssuerUrl"]
        assert not (other.data_dir / "tls").exists()
    finally:
        other.stop()


def test_unreadable_certificate_files_stop_the_server_with_a_message(tmp_path):
    bad = tls_config(tmp_path, 'cert_file = "/nonexistent/cert.pem"\nkey_file = "/nonexistent/key.pem"\n')
    from conftest import BINARY
    out = subprocess.run([BINARY, "serve", "--config", str(bad), "--data-dir", str(tmp_path / "d"), "--listen", "127.0.0.1:0"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "cannot read /nonexistent/cert.pem" in out.stderr
