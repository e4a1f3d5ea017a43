"""Existing stack definitions served as they are (issue 12): a CDK app with
L1 constructs synthesized with aws-cdk-lib, serverless.yml apps shaped like
seed 004 (Node.js, Python, WebSocket), a SAM template with Globals and
--parameter-overrides; refusals; ids kept across restarts and template
edits applied on restart."""

import asyncio
import json
import os
import pathlib
import re
import shutil
import time
import subprocess
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import pytest
import requests
import websockets

from conftest import BINARY, PASSWORD, ROOT, Server, unique

STACKS = ROOT / "tests" / "fixtures" / "stacks"
NODE_MODULES = ROOT / "tests" / "js" / "node_modules"


def stack_server(tmp_path, template, *extra, data_dir=None):
    s = Server(data_dir or tmp_path / "data", args=["--template", str(template), *extra])
    return s.start()


def only_stack(server):
    (name, stack), = server["Stacks"].items()
    return name, stack


def admin_token(server, pool_id, client_id, username, token="AccessToken"):
    idp = server.client()
    idp.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=PASSWORD, Permanent=True)
    r = idp.admin_initiate_auth(UserPoolId=pool_id, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    return r["AuthenticationResult"][token]


# -- Done-when 2: a CDK app with L1 constructs and a Python function ---------

def synth(app_dir, out_dir):
    if not (NODE_MODULES / "aws-cdk-lib").is_dir():
        pytest.fail("aws-cdk-lib is not installed in tests/js/node_modules (scripts/test installs it)")
    env = dict(os.environ, CDK_OUTDIR=str(out_dir), NODE_PATH=str(NODE_MODULES))
    subprocess.run(["node", str(app_dir / "app.js")], check=True, env=env, cwd=app_dir,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    assert (out_dir / "manifest.json").is_file()


def test_cdk_l1_app_with_a_jwt_authorizer_on_the_pools_aws_issuer(tmp_path):
    out = tmp_path / "cdk.out"
    synth(STACKS / "cdk-l1", out)
    s = stack_server(tmp_path, out)
    try:
        name, stack = only_stack(s)
        assert name == "L1Stack"
        outputs = stack["Outputs"]
        assert outputs["StageUrl"].endswith("/api") and outputs["StageUrl"].startswith("http://127.0.0.1:")
        token = admin_token(s, outputs["UserPoolId"], outputs["ClientId"], unique("l1"))
        # The token's issuer is the AWS form the authorizer was written with.
        r = requests.get(outputs["StageUrl"] + "/hello", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["version"] == "1.0" and body["path"] == "/api/hello" and body["hello"].startswith("l1-")
        no = requests.get(outputs["StageUrl"] + "/hello", timeout=10)
        assert no.status_code == 401 and no.json() == {"message": "Unauthorized"}
        assert stack["Resources"]["Stage"]["Url"] == outputs["StageUrl"]
        assert stack["Resources"]["Api"]["Type"] == "AWS::ApiGatewayV2::Api"
    finally:
        s.stop()


# -- Done-when 3: serverless.yml shaped like seed 004 -------------------------

def implicit_sign_in(domain, client_id, username, password=PASSWORD):
    """The hosted page's implicit grant, as a browser follows it: the tokens
    from the redirect's fragment."""
    browser = requests.Session()
    url = domain + "/oauth2/authorize?" + urlencode({
        "client_id": client_id, "response_type": "token", "redirect_uri": "https://localhost:3000",
        "scope": "openid email", "state": "s"})
    r = browser.get(url, allow_redirects=False)
    assert r.status_code == 302, r.text
    page = browser.get(domain + r.headers["Location"])
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
    action = re.search(r'action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    done = browser.post(domain + action, allow_redirects=False,
                        data={"_csrf": csrf, "username": username, "password": password})
    assert done.status_code == 302, done.text
    location = done.headers["Location"]
    assert location.startswith("https://localhost:3000#"), location
    return parse_qs(location.split("#", 1)[1])


@pytest.mark.parametrize("app", ["serverless-node", "serverless-python"])
def test_serverless_yml_http_api_with_a_cognito_jwt_authorizer(tmp_path, app):
    s = stack_server(tmp_path, STACKS / app / "serverless.yml")
    try:
        name, stack = only_stack(s)
        service = app.replace("serverless", "http-api")
        assert name == f"{service}-dev"
        res = stack["Resources"]
        pool_id = res["serviceUserPool"]["PhysicalResourceId"]
        client_id = res["serviceUserPoolClient"]["PhysicalResourceId"]
        domain = res["serviceUserPoolDomain"]["Url"]
        api = stack["Outputs"]["HttpApiUrl"]
        email = f"{unique('sls')}@example.com"
        idp = s.client()
        idp.admin_create_user(UserPoolId=pool_id, Username=email, MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}])
        idp.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=PASSWORD, Permanent=True)
        tokens = implicit_sign_in(domain, client_id, email)
        id_token = tokens["id_token"][0]
        auth = {"Authorization": f"Bearer {id_token}"}
        got = requests.get(api + "/user/profile", headers=auth, timeout=30)
        assert got.status_code == 200, got.text
        assert got.json()["claims"]["email"] == email
        assert got.json()["claims"]["iss"] == f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}"
        posted = requests.post(api + "/user/profile", headers=auth, json={"nickname": "zed"}, timeout=30)
        assert posted.status_code == 200, posted.text
        assert posted.json()["body"] == {"nickname": "zed"} and posted.json()["claims"]["email"] == email
        for method in ("GET", "POST"):
            no = requests.request(method, api + "/user/profile", timeout=10)
            assert no.status_code == 401 and no.json() == {"message": "Unauthorized"}
    finally:
        s.stop()


def test_serverless_yml_websocket_events_with_a_connect_authorizer(tmp_path):
    s = stack_server(tmp_path, STACKS / "serverless-websocket" / "serverless.yml")
    try:
        name, stack = only_stack(s)
        assert name == "ws-chat-dev"
        url = stack["Outputs"]["ServiceEndpointWebsocket"]
        assert url.startswith("ws://127.0.0.1:") and url.endswith("/dev")

        async def talk():
            async with websockets.connect(url + "?token=let-me-in") as ws:
                await ws.send(json.dumps({"hello": 1}))
                return json.loads(await asyncio.wait_for(ws.recv(), 30))

        assert asyncio.run(talk()) == {"echo": {"hello": 1}, "who": "tester"}

        # Backends reply through @connections at the event's domainName
        # (the API's AWS host name), with the SDK v3 and boto3 unchanged.
        async def push(action):
            async with websockets.connect(url + "?token=let-me-in") as ws:
                await ws.send(json.dumps({"action": action}))
                return json.loads(await asyncio.wait_for(ws.recv(), 60))

        api_id = stack["Resources"]["WebsocketsApi"]["PhysicalResourceId"]
        assert asyncio.run(push("push")) == {
            "pushed": True, "domainName": f"{api_id}.execute-api.us-east-1.amazonaws.com", "pools": ["chat-users"]}
        assert asyncio.run(push("pushpython")) == {"boto3": True}

        async def refused(query):
            with pytest.raises(websockets.exceptions.InvalidStatus) as e:
                async with websockets.connect(url + query):
                    pass
            return e.value.response.status_code

        assert asyncio.run(refused("?token=wrong")) == 403
        assert asyncio.run(refused("")) == 401
    finally:
        s.stop()


# -- Done-when 4: SAM with Globals and --parameter-overrides ------------------

def test_sam_template_with_globals_and_parameter_overrides(tmp_path):
    template = STACKS / "sam" / "template.yaml"
    # Greeting has no default: without a value the template is refused.
    r = subprocess.run([BINARY, "validate-config", "--template", str(template)], capture_output=True, text=True)
    assert r.returncode == 2 and "Parameters.Greeting" in r.stderr, r.stderr
    s = stack_server(tmp_path, template, "--parameter-overrides", "Greeting=howdy", "Stage=prod",
                     "--stack-name", "sam-app")
    try:
        name, stack = only_stack(s)
        assert name == "sam-app"
        out = stack["Outputs"]
        token = admin_token(s, out["UserPoolId"], out["UserPoolClientId"], unique("sam"))
        r = requests.get(out["ApiUrl"] + "/hello", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["greeting"] == "howdy" and body["stage"] == "production" and body["route"] == "GET /hello"
        assert body["memory"] == "256"  # Globals.Function.MemorySize
        assert body["username"].startswith("sam-")
        assert requests.get(out["ApiUrl"] + "/hello", timeout=10).status_code == 401
        # Auth: Authorizer: NONE on one event.
        assert requests.get(out["ApiUrl"] + "/open", timeout=30).json()["username"] is None
        described = s.client().describe_user_pool(UserPoolId=out["UserPoolId"])["UserPool"]
        assert described["Name"] == "sam-app-users"
    finally:
        s.stop()


# -- Done-when 5: refusals ---------------------------------------------------

BAD = {
    "unknown-type": ("Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n",
                     "bad/Queue (AWS::SQS::Queue): resource type AWS::SQS::Queue is not supported"),
    "unsupported-property": ("Resources:\n  Pool:\n    Type: AWS::Cognito::UserPool\n    Properties:\n      Frobnicate: true\n",
                             "bad/Pool (AWS::Cognito::UserPool): property Frobnicate is not supported"),
    "ref-to-nothing": ("Resources:\n  Client:\n    Type: AWS::Cognito::UserPoolClient\n    Properties:\n      UserPoolId: !Ref Missing\n",
                       "bad/Client (AWS::Cognito::UserPoolClient): Ref to 'Missing'"),
    "cycle": ("Resources:\n  A:\n    Type: AWS::Cognito::UserPool\n    Properties: {UserPoolName: !Ref B}\n"
              "  B:\n    Type: AWS::Cognito::UserPool\n    Properties: {UserPoolName: !Ref A}\n",
              "circular dependency between resources: A -> B -> A"),
    "sub-unknown": ("Resources:\n  Pool:\n    Type: AWS::Cognito::UserPool\n    Properties:\n      UserPoolName: !Sub '${Nowhere}-pool'\n",
                    "bad/Pool (AWS::Cognito::UserPool): Fn::Sub: ${Nowhere}"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_refusals_name_resource_and_file_and_nothing_is_served(tmp_path, case):
    text, expected = BAD[case]
    template = tmp_path / "bad.yaml"
    template.write_text(text)
    for verb in (["validate-config"], ["serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
                                       "--outputs-file", str(tmp_path / "out.json")]):
        r = subprocess.run([BINARY, *verb, "--template", str(template)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, (verb, r.stdout, r.stderr)
        assert str(template) in r.stderr and expected in r.stderr, r.stderr
    assert not (tmp_path / "out.json").exists()
    assert not (tmp_path / "d").exists()


def test_allow_unsupported_serves_and_warns(tmp_path):
    template = tmp_path / "mixed.yaml"
    template.write_text(BAD["unknown-type"][0] + "  Pool:\n    Type: AWS::Cognito::UserPool\n    Properties: {Frobnicate: 1}\n")
    s = Server(tmp_path / "data", args=["--template", str(template), "--allow-unsupported"]).start()
    try:
        _, stack = only_stack(s)
        pool_id = stack["Resources"]["Pool"]["PhysicalResourceId"]
        assert s.client().describe_user_pool(UserPoolId=pool_id)["UserPool"]["Id"] == pool_id
    finally:
        s.stop()
    log = (tmp_path / "data" / "server.log").read_text()
    assert "warning: skipped" in log and "AWS::SQS::Queue" in log and "Frobnicate" in log


# -- Done-when 6: ids stay put; edits apply on restart ------------------------

def test_restart_keeps_ids_and_users_and_applies_template_edits(tmp_path):
    src = STACKS / "sam"
    app = tmp_path / "app"
    shutil.copytree(src, app)
    template = app / "template.yaml"
    data = tmp_path / "data"
    args = ["--parameter-overrides", "Greeting=hi"]
    s = stack_server(tmp_path, template, *args, data_dir=data)
    username = unique("keep")
    try:
        _, first = only_stack(s)
        out = first["Outputs"]
        admin_token(s, out["UserPoolId"], out["UserPoolClientId"], username)
        assert requests.get(out["ApiUrl"] + "/bye", timeout=10).status_code == 404
    finally:
        s.stop()
    # A new route in the template, and a second client.
    text = template.read_text()
    text = text.replace("        Open:\n", "        Bye:\n          Type: HttpApi\n          Properties:\n"
                        "            ApiId: !Ref HttpApi\n            Path: /bye\n            Method: get\n"
                        "            Auth:\n              Authorizer: NONE\n        Open:\n")
    text = text.replace("  HttpApi:\n    Type: AWS::Serverless::HttpApi",
                        "  SecondClient:\n    Type: AWS::Cognito::UserPoolClient\n    Properties:\n"
                        "      UserPoolId: !Ref UserPool\n  HttpApi:\n    Type: AWS::Serverless::HttpApi")
    template.write_text(text)
    s = stack_server(tmp_path, template, *args, data_dir=data)
    try:
        _, second = only_stack(s)
        for k in ("UserPoolId", "UserPoolClientId"):
            assert second["Outputs"][k] == out[k]
        assert second["Resources"]["HttpApi"]["PhysicalResourceId"] == first["Resources"]["HttpApi"]["PhysicalResourceId"]
        r = s.client().admin_initiate_auth(UserPoolId=out["UserPoolId"], ClientId=out["UserPoolClientId"],
                                           AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                           AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
        assert "AccessToken" in r["AuthenticationResult"]
        assert requests.get(second["Outputs"]["ApiUrl"] + "/bye", timeout=30).status_code == 200
        second_client = second["Resources"]["SecondClient"]["PhysicalResourceId"]
    finally:
        s.stop()
    # The second client removed again: it is gone, with nothing else touched.
    template.write_text(text.replace("  SecondClient:\n    Type: AWS::Cognito::UserPoolClient\n    Properties:\n"
                                     "      UserPoolId: !Ref UserPool\n", ""))
    s = stack_server(tmp_path, template, *args, data_dir=data)
    try:
        idp = s.client()
        with pytest.raises(idp.exceptions.ResourceNotFoundException):
            idp.describe_user_pool_client(UserPoolId=out["UserPoolId"], ClientId=second_client)
        assert idp.describe_user_pool_client(UserPoolId=out["UserPoolId"], ClientId=out["UserPoolClientId"])
    finally:
        s.stop()


# -- Done-when 1: seed 000's CDK app, its functions unchanged, in Chromium ----

def test_cdk_app_shaped_like_seed_000_signs_in_with_chromium(tmp_path):
    out = tmp_path / "cdk.out"
    synth(STACKS / "cdk-cookie", out)
    s = stack_server(tmp_path, out)
    try:
        name, stack = only_stack(s)
        assert name == "ApiGwHttpOnlyCookieAuthStack"
        app_url = stack["Outputs"]["AppURL"]
        sign_in = stack["Outputs"]["SigninURL"]
        assert app_url.startswith("http://127.0.0.1:") and sign_in.startswith("http://127.0.0.1:")
        assert f"redirect_uri={app_url}/oauth2/callback" in sign_in
        pool_id = next(r["PhysicalResourceId"] for r in stack["Resources"].values()
                       if r["Type"] == "AWS::Cognito::UserPool")
        email = f"{unique('cookie')}@example.com"
        idp = s.client()
        idp.admin_create_user(UserPoolId=pool_id, Username=email, MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}])
        idp.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=PASSWORD, Permanent=True)
        # Without the cookie the authorizer function refuses.
        r = requests.get(app_url + "/", timeout=60)
        assert (r.status_code, r.text) == (403, '{"message":"Forbidden"}')
        chromium = shutil.which("chromium")
        js = ROOT / "tests" / "js"
        payload = {"signInUrl": sign_in, "apiUrl": app_url, "username": email, "password": PASSWORD}
        run = subprocess.run(["node", str(js / "seed000-browser.mjs")], input=json.dumps(payload),
                             capture_output=True, text=True, timeout=180, cwd=js,
                             env={"PATH": "/usr/bin:/bin", "CHROMIUM": chromium, "HOME": str(tmp_path)})
        assert run.returncode == 0, run.stderr
        seen = json.loads(run.stdout)
        assert seen["ok"], (seen, (s.data_dir / "server.log").read_text()[-3000:])
        # The callback exchanged the code at https://{prefix}.auth.us-east-1.amazoncognito.com,
        # the authorizer fetched the JWKS from https://cognito-idp.us-east-1.amazonaws.com/{poolId}.
        user = idp.admin_get_user(UserPoolId=pool_id, Username=email)["Username"]
        assert seen["body"] == f'"Hello from Lambda, {user}!"'
        cookie = next(c for c in seen["cookies"] if c["name"] == "accessToken")
        assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Lax")
        assert (seen["freshStatus"], seen["freshBody"]) == (403, '{"message":"Forbidden"}')
    finally:
        s.stop()


def test_functions_reach_aws_addresses_over_https_with_boto3_and_the_sdk(tmp_path):
    """boto3 and the AWS SDK for JavaScript v3 with their default endpoints,
    urllib to a pool domain, inside functions of a stack."""
    app = tmp_path / "app"
    (app / "py").mkdir(parents=True)
    (app / "py" / "index.py").write_text(
        "import json, os, urllib.request, boto3\n"
        "def handler(event, context):\n"
        "    idp = boto3.client('cognito-idp')\n"
        "    pool = idp.describe_user_pool(UserPoolId=os.environ['POOL'])['UserPool']['Name']\n"
        "    url = 'https://' + os.environ['PREFIX'] + '.auth.us-east-1.amazoncognito.com/oauth2/token'\n"
        "    try:\n"
        "        urllib.request.urlopen(url, data=b'grant_type=nope')\n"
        "        status = 200\n"
        "    except urllib.error.HTTPError as e:\n"
        "        status = [e.code, json.loads(e.read())['error']]\n"
        "    jwks = urllib.request.urlopen('https://cognito-idp.us-east-1.amazonaws.com/' + os.environ['POOL'] + '/.well-known/jwks.json').read()\n"
        "    return {'statusCode': 200, 'body': json.dumps({'pool': pool, 'domain_status': status, 'keys': len(json.loads(jwks)['keys'])})}\n")
    template = app / "reach.yaml"
    template.write_text(f"""
Resources:
  Pool:
    Type: AWS::Cognito::UserPool
    Properties: {{UserPoolName: reach-pool}}
  Domain:
    Type: AWS::Cognito::UserPoolDomain
    Properties: {{UserPoolId: !Ref Pool, Domain: reach-test}}
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      Timeout: 30
      Code: {{S3Bucket: x, S3Key: y}}
      Environment: {{Variables: {{POOL: !Ref Pool, PREFIX: reach-test}}}}
    Metadata: {{"aws:asset:path": "{app / 'py'}"}}
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {{Name: reach, ProtocolType: HTTP, Target: !GetAtt Fn.Arn}}
Outputs:
  Url: {{Value: !GetAtt Api.ApiEndpoint}}
""")
    s = stack_server(tmp_path, template)
    try:
        assert s["AwsEndpointUrl"].startswith("https://127.0.0.1:")
        _, stack = only_stack(s)
        r = requests.get(stack["Outputs"]["Url"] + "/anything", timeout=60)
        assert r.status_code == 200, (r.text, (s.data_dir / "server.log").read_text()[-3000:])
        got = r.json()
        assert got["pool"] == "reach-pool" and got["keys"] >= 1
        assert got["domain_status"] == [400, "invalid_request"], got
    finally:
        s.stop()


def test_watch_applies_edits_without_dropping_open_connections(tmp_path):
    src = STACKS / "serverless-websocket"
    app = tmp_path / "app"
    app.mkdir()
    for f in ("serverless.yml", "handler.js", "push.py"):
        shutil.copy(src / f, app / f)
    (app / "node_modules").symlink_to(src / "node_modules")
    yml = app / "serverless.yml"
    s = stack_server(tmp_path, yml, "--watch")
    outputs_file = s.data_dir / "outputs.json"
    try:
        _, stack = only_stack(s)
        url = stack["Outputs"]["ServiceEndpointWebsocket"]
        assert "HttpApiUrl" not in stack["Outputs"]

        def logged(log, text):
            """Waits for the server to report `text` (polled, bounded)."""
            deadline = time.time() + 30
            while text not in log.read_text():
                assert time.time() < deadline, "never logged: " + text + "\n" + log.read_text()[-2000:]
                time.sleep(0.1)

        def reloaded(check):
            deadline = time.time() + 30
            while time.time() < deadline:
                time.sleep(0.3)
                try:
                    outputs = json.loads(outputs_file.read_text())
                except (OSError, ValueError):
                    continue
                if check(outputs):
                    return outputs
            raise AssertionError("the edit was not applied: " + (s.data_dir / "server.log").read_text()[-2000:])

        async def scenario():
            async with websockets.connect(url + "?token=let-me-in") as ws:
                await ws.send(json.dumps({"n": 1}))
                assert json.loads(await asyncio.wait_for(ws.recv(), 30))["echo"] == {"n": 1}
                # A broken edit is reported and changes nothing.
                yml.write_text(yml.read_text() + "\n  broken: [\n")
                await asyncio.to_thread(
                    logged, s.data_dir / "server.log", "the changed definition is not applied")
                # A new HTTP API route: applied while the socket stays open.
                text = src.joinpath("serverless.yml").read_text().replace(
                    "functions:\n",
                    "functions:\n  added:\n    handler: handler.hello\n    events:\n      - httpApi: 'GET /added'\n", 1)
                yml.write_text(text)
                outputs = await asyncio.to_thread(
                    reloaded, lambda o: "HttpApiUrl" in o["Stacks"]["ws-chat-dev"]["Outputs"])
                api = outputs["Stacks"]["ws-chat-dev"]["Outputs"]["HttpApiUrl"]
                r = await asyncio.to_thread(requests.post, api + "/added", timeout=30)
                assert r.status_code == 404  # only GET was added
                await ws.send(json.dumps({"n": 2}))
                assert json.loads(await asyncio.wait_for(ws.recv(), 30))["echo"] == {"n": 2}
                return api

        api = asyncio.run(scenario())
        r = requests.get(api + "/added", timeout=30)
        assert (r.status_code, r.text) == (200, "added")
    finally:
        s.stop()


def test_groups_users_and_attachments_of_a_template(tmp_path):
    template = tmp_path / "people.yaml"
    base = """
Resources:
  Pool:
    Type: AWS::Cognito::UserPool
  Admins:
    Type: AWS::Cognito::UserPoolGroup
    Properties: {UserPoolId: !Ref Pool, GroupName: admins, Precedence: 1, Description: The admins}
  Alice:
    Type: AWS::Cognito::UserPoolUser
    Properties:
      UserPoolId: !Ref Pool
      Username: alice
      DesiredDeliveryMediums: [EMAIL]
      UserAttributes: [{Name: email, Value: alice@example.com}]
  AliceIsAdmin:
    Type: AWS::Cognito::UserPoolUserToGroupAttachment
    Properties: {UserPoolId: !Ref Pool, GroupName: !Ref Admins, Username: !Ref Alice}
"""
    bob = """  Bob:
    Type: AWS::Cognito::UserPoolUser
    Properties: {UserPoolId: !Ref Pool, Username: bob, MessageAction: SUPPRESS}
"""
    template.write_text(base + bob)
    data = tmp_path / "data"
    s = stack_server(tmp_path, template, data_dir=data)
    try:
        _, stack = only_stack(s)
        pool = stack["Resources"]["Pool"]["PhysicalResourceId"]
        idp = s.client()
        alice = idp.admin_get_user(UserPoolId=pool, Username="alice")
        assert alice["UserStatus"] == "FORCE_CHANGE_PASSWORD"
        assert {"Name": "email", "Value": "alice@example.com"} in alice["UserAttributes"]
        groups = idp.admin_list_groups_for_user(UserPoolId=pool, Username="alice")["Groups"]
        assert [(g["GroupName"], g["Precedence"], g["Description"]) for g in groups] == [("admins", 1, "The admins")]
        # Alice got an invitation with a temporary password; Bob's was suppressed.
        messages = [json.loads(f.read_text()) for f in pathlib.Path(s["OutboxDir"]).glob("*.json")]
        assert [m["username"] for m in messages] == ["alice"]
        assert idp.admin_get_user(UserPoolId=pool, Username="bob")["UserStatus"] == "FORCE_CHANGE_PASSWORD"
        idp.admin_set_user_password(UserPoolId=pool, Username="alice", Password=PASSWORD, Permanent=True)
    finally:
        s.stop()
    # Bob leaves the template: he is deleted; Alice (with her own password) stays.
    template.write_text(base)
    s = stack_server(tmp_path, template, data_dir=data)
    try:
        idp = s.client()
        with pytest.raises(idp.exceptions.UserNotFoundException):
            idp.admin_get_user(UserPoolId=pool, Username="bob")
        assert idp.admin_get_user(UserPoolId=pool, Username="alice")["UserStatus"] == "CONFIRMED"
    finally:
        s.stop()
