"""Cognito Lambda triggers (issue 13, first part): PreSignUp, PostConfirmation
and PreTokenGeneration V1_0/V2_0, with handlers written as their users write
them in Node.js and in Python, run unchanged by cognate; their events checked
key by key; Cognito's errors when a function throws, times out or answers
nonsense; LambdaConfig through the JSON API (boto3)."""

import json
import pathlib

import botocore.exceptions
import jwt
import pytest

from conftest import PASSWORD, ROOT, Server, unique

FIXTURES = ROOT / "tests" / "fixtures" / "triggers"


def config(tmp_path, events):
    text = f"""
version = 1

[[functions]]
name = "node"
runtime = "nodejs"
code = "{FIXTURES / 'node'}"
handler = "index.preSignUp"
timeout_seconds = 10           # past Cognito's own 5 s
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "node-post"
runtime = "nodejs"
code = "{FIXTURES / 'node'}"
handler = "index.postConfirmation"
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "node-token"
runtime = "nodejs"
code = "{FIXTURES / 'node'}"
handler = "index.preToken"
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "node-preauth"
runtime = "nodejs"
code = "{FIXTURES / 'node'}"
handler = "index.preAuthentication"
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "node-postauth"
runtime = "nodejs"
code = "{FIXTURES / 'node'}"
handler = "index.postAuthentication"
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "python-preauth"
runtime = "python"
code = "{FIXTURES / 'python'}"
handler = "triggers.pre_authentication"
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "python-postauth"
runtime = "python"
code = "{FIXTURES / 'python'}"
handler = "triggers.post_authentication"
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "node-message"
runtime = "nodejs"
code = "{FIXTURES / 'node'}"
handler = "index.customMessage"
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "python-message"
runtime = "python"
code = "{FIXTURES / 'python'}"
handler = "triggers.custom_message"
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "node-migrate"
runtime = "nodejs"
code = "{FIXTURES / 'node'}"
handler = "index.userMigration"
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "python-migrate"
runtime = "python"
code = "{FIXTURES / 'python'}"
handler = "triggers.user_migration"
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "node-define"
runtime = "nodejs"
code = "{FIXTURES / 'node'}"
handler = "index.defineAuthChallenge"
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "node-create"
runtime = "nodejs"
code = "{FIXTURES / 'node'}"
handler = "index.createAuthChallenge"
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "node-verify"
runtime = "nodejs"
code = "{FIXTURES / 'node'}"
handler = "index.verifyAuthChallengeResponse"
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "python-define"
runtime = "python"
code = "{FIXTURES / 'python'}"
handler = "triggers.define_auth_challenge"
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "python-create"
runtime = "python"
code = "{FIXTURES / 'python'}"
handler = "triggers.create_auth_challenge"
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "python-verify"
runtime = "python"
code = "{FIXTURES / 'python'}"
handler = "triggers.verify_auth_challenge_response"
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "python"
runtime = "python"
code = "{FIXTURES / 'python'}"
handler = "triggers.pre_sign_up"
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "python-post"
runtime = "python"
code = "{FIXTURES / 'python'}"
handler = "triggers.post_confirmation"
environment = {{ EVENTS_DIR = "{events}" }}

[[functions]]
name = "python-token"
runtime = "python"
code = "{FIXTURES / 'python'}"
handler = "triggers.pre_token"
environment = {{ EVENTS_DIR = "{events}" }}

[[user_pools]]
name = "node"
alias_attributes = ["email"]
auto_verified_attributes = ["email"]
domain = {{ prefix = "node-triggers" }}
triggers = {{ pre_sign_up = "node", post_confirmation = "node-post", pre_token_generation = "node-token", pre_authentication = "node-preauth", post_authentication = "node-postauth", custom_message = "node-message", user_migration = "node-migrate", define_auth_challenge = "node-define", create_auth_challenge = "node-create", verify_auth_challenge_response = "node-verify" }}
[[user_pools.clients]]
name = "app"
prevent_user_existence_errors = "LEGACY"
explicit_auth_flows = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_CUSTOM_AUTH", "ALLOW_USER_SRP_AUTH"]
allowed_oauth_flows = ["code"]
allowed_oauth_scopes = ["openid"]
callback_urls = ["http://localhost:3000/"]
[[user_pools.clients]]
name = "hidden"
explicit_auth_flows = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
prevent_user_existence_errors = "ENABLED"

[[user_pools]]
name = "m2m"
triggers = {{ pre_token_generation = {{ function = "python-token", version = "V3_0" }} }}
domain = {{ prefix = "m2m-triggers" }}
[[user_pools.resource_servers]]
identifier = "m2m-api"
name = "M2M API"
scopes = [{{ name = "read", description = "read" }}]
[[user_pools.clients]]
name = "machine"
generate_secret = true
explicit_auth_flows = []
allowed_oauth_flows = ["client_credentials"]
allowed_oauth_scopes = ["m2m-api/read"]

[[user_pools]]
name = "python"
issuer = "aws"
alias_attributes = ["email"]
auto_verified_attributes = ["email"]
triggers = {{ pre_sign_up = "python", post_confirmation = "python-post", pre_token_generation = {{ function = "python-token", version = "V2_0" }}, pre_authentication = "python-preauth", post_authentication = "python-postauth", custom_message = "python-message", user_migration = "python-migrate", define_auth_challenge = "python-define", create_auth_challenge = "python-create", verify_auth_challenge_response = "python-verify" }}
[[user_pools.clients]]
name = "app"
prevent_user_existence_errors = "LEGACY"
explicit_auth_flows = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_CUSTOM_AUTH", "ALLOW_USER_SRP_AUTH"]
"""
    text += """
[[http_apis]]
name = "claims"
[http_apis.authorizers.cognito]
type = "jwt"
user_pool = "python"
[http_apis.integrations.echo]
type = "echo"
[[http_apis.routes]]
route = "GET /claims"
authorizer = "cognito"
integration = "echo"
"""
    path = tmp_path / "triggers.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("triggers")
    events = tmp / "events"
    events.mkdir()
    s = Server(tmp / "data", config=config(tmp, events)).start()
    yield s, events
    s.stop()


def ids(s, runtime, name="app"):
    idp = s.client()
    pools = {p["Name"]: p["Id"] for p in idp.list_user_pools(MaxResults=10)["UserPools"]}
    pool = pools[runtime]
    clients = idp.list_user_pool_clients(UserPoolId=pool, MaxResults=10)["UserPoolClients"]
    client = next(c["ClientId"] for c in clients if c["ClientName"] == name)
    return pool, client


def event(events, source, username):
    return json.loads((events / f"{source}-{username}.json").read_text())


def check_common(e, s, pool, source, username, client_id, version="1"):
    assert e["version"] == version
    assert e["triggerSource"] == source
    assert e["region"] == "us-east-1"
    assert e["userPoolId"] == pool
    assert e["userName"] == username
    assert e["callerContext"] == {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": client_id}


@pytest.mark.parametrize("runtime", ["node", "python"])
def test_pre_sign_up_confirms_verifies_and_refuses(env, runtime):
    s, events = env
    pool, client = ids(s, runtime)
    idp = s.client(signed=False)
    name = unique("ok")
    r = idp.sign_up(ClientId=client, Username=name, Password=PASSWORD,
                    UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}],
                    ClientMetadata={"from": "test"})
    assert r["UserConfirmed"] is True
    e = event(events, "PreSignUp_SignUp", name)
    check_common(e, s, pool, "PreSignUp_SignUp", name, client)
    assert e["request"] == {"userAttributes": {"email": f"{name}@example.com"}, "validationData": None,
                            "clientMetadata": {"from": "test"}}
    assert set(e["response"]) == {"autoConfirmUser", "autoVerifyEmail", "autoVerifyPhone"}
    user = s.client().admin_get_user(UserPoolId=pool, Username=name)
    assert user["UserStatus"] == "CONFIRMED"
    assert {"Name": "email_verified", "Value": "true"} in user["UserAttributes"]
    # Verified by the trigger: the email is a sign-in alias at once.
    auth = idp.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": f"{name}@example.com", "PASSWORD": PASSWORD})
    assert "AccessToken" in auth["AuthenticationResult"]

    blocked = unique("blocked")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        idp.sign_up(ClientId=client, Username=blocked, Password=PASSWORD)
    assert err.value.response["Error"]["Code"] == "UserLambdaValidationException"
    assert err.value.response["Error"]["Message"] == "PreSignUp failed with error Blocked user."
    with pytest.raises(s.client().exceptions.UserNotFoundException):
        s.client().admin_get_user(UserPoolId=pool, Username=blocked)

    garbage = unique("garbage")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        idp.sign_up(ClientId=client, Username=garbage, Password=PASSWORD)
    assert err.value.response["Error"]["Code"] == "InvalidLambdaResponseException"
    with pytest.raises(s.client().exceptions.UserNotFoundException):
        s.client().admin_get_user(UserPoolId=pool, Username=garbage)


def test_a_trigger_past_five_seconds_is_unexpected_lambda(env):
    """Cognito waits 5 s whatever the function's own timeout (10 s here)."""
    s, _ = env
    pool, client = ids(s, "node")
    slow = unique("slow")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s.client(signed=False).sign_up(ClientId=client, Username=slow, Password=PASSWORD)
    assert err.value.response["Error"]["Code"] == "UnexpectedLambdaException"
    with pytest.raises(s.client().exceptions.UserNotFoundException):
        s.client().admin_get_user(UserPoolId=pool, Username=slow)


@pytest.mark.parametrize("runtime", ["node", "python"])
def test_admin_create_user_and_confirmations_run_their_triggers(env, runtime):
    s, events = env
    pool, client = ids(s, runtime)
    admin = s.client()
    name = unique("adm")
    admin.admin_create_user(UserPoolId=pool, Username=name, MessageAction="SUPPRESS",
                            UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}])
    e = event(events, "PreSignUp_AdminCreateUser", name)
    check_common(e, s, pool, "PreSignUp_AdminCreateUser", name, "CLIENT_ID_NOT_APPLICABLE")
    u = admin.admin_get_user(UserPoolId=pool, Username=name)
    assert u["UserStatus"] == "FORCE_CHANGE_PASSWORD"  # not confirmed by the trigger
    assert {"Name": "email_verified", "Value": "true"} in u["UserAttributes"]

    # A user the trigger does not confirm confirms with the code sent.
    public = s.client(signed=False)
    later = unique("later")
    r = public.sign_up(ClientId=client, Username=later, Password=PASSWORD,
                       UserAttributes=[{"Name": "email", "Value": f"{later}@other.test"}])
    assert r["UserConfirmed"] is False
    code = s.outbox_codes(later)[-1]["code"]
    public.confirm_sign_up(ClientId=client, Username=later, ConfirmationCode=code)
    e = event(events, "PostConfirmation_ConfirmSignUp", later)
    check_common(e, s, pool, "PostConfirmation_ConfirmSignUp", later, client)
    attrs = e["request"]["userAttributes"]
    assert attrs["cognito:user_status"] == "CONFIRMED" and attrs["email_verified"] == "true"
    assert attrs["email"] == f"{later}@other.test" and len(attrs["sub"]) == 36
    assert e["request"]["clientMetadata"] == {} and e["response"] == {}

    public.forgot_password(ClientId=client, Username=later)
    code = s.outbox_codes(later)[-1]["code"]
    public.confirm_forgot_password(ClientId=client, Username=later, ConfirmationCode=code, Password=PASSWORD + "x")
    e = event(events, "PostConfirmation_ConfirmForgotPassword", later)
    check_common(e, s, pool, "PostConfirmation_ConfirmForgotPassword", later, client)


def test_pre_token_generation_v1_changes_the_id_token_and_groups(env):
    s, events = env
    pool, client = ids(s, "node")
    name = unique("tok")
    s.client(signed=False).sign_up(ClientId=client, Username=name, Password=PASSWORD,
                                   UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}])
    r = s.client(signed=False).initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                                             AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})["AuthenticationResult"]
    idt = jwt.decode(r["IdToken"], options={"verify_signature": False})
    at = jwt.decode(r["AccessToken"], options={"verify_signature": False})
    assert idt["tenant"] == "acme" and idt["custom:plan"] == "gold" and "email" not in idt
    assert idt["cognito:groups"] == ["readers", "writers"] and at["cognito:groups"] == ["readers", "writers"]
    assert "tenant" not in at  # V1 changes the ID token only
    e = event(events, "TokenGeneration_Authentication", name)
    check_common(e, s, pool, "TokenGeneration_Authentication", name, client)
    assert e["request"]["groupConfiguration"] == {"groupsToOverride": [], "iamRolesToOverride": [], "preferredRole": None}
    assert e["request"]["userAttributes"]["email"] == f"{name}@example.com"
    assert "scopes" not in e["request"]
    assert e["response"] == {"claimsOverrideDetails": None}
    # Refresh runs it again, with its own source.
    s.client(signed=False).initiate_auth(ClientId=client, AuthFlow="REFRESH_TOKEN_AUTH",
                                         AuthParameters={"REFRESH_TOKEN": r["RefreshToken"]})
    assert event(events, "TokenGeneration_RefreshTokens", name)["triggerSource"] == "TokenGeneration_RefreshTokens"


def test_pre_token_generation_v2_changes_both_tokens_and_the_scopes(env):
    s, events = env
    pool, client = ids(s, "python")
    name = unique("tok")
    s.client(signed=False).sign_up(ClientId=client, Username=name, Password=PASSWORD,
                                   UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}])
    r = s.client(signed=False).initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                                             AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})["AuthenticationResult"]
    idt = jwt.decode(r["IdToken"], options={"verify_signature": False})
    at = jwt.decode(r["AccessToken"], options={"verify_signature": False})
    assert idt["tenant"] == "acme" and "email" not in idt and idt["cognito:groups"] == ["readers"]
    assert at["tenant"] == "acme" and at["roles"] == ["admin", "billing"]
    assert at["sub"] == idt["sub"] != "forged"  # a protected claim stays
    assert at["scope"] == "orders/read"
    e = event(events, "TokenGeneration_Authentication", name)
    check_common(e, s, pool, "TokenGeneration_Authentication", name, client, version="2")
    assert e["request"]["scopes"] == ["aws.cognito.signin.user.admin"]
    assert e["response"] == {"claimsAndScopeOverrideDetails": None}


def test_lambda_config_round_trips_and_unknown_functions_are_refused(env):
    s, _ = env
    idp = s.client()
    pool, _ = ids(s, "python")
    described = idp.describe_user_pool(UserPoolId=pool)["UserPool"]["LambdaConfig"]
    arn = "arn:aws:lambda:us-east-1:000000000000:function:python-token"
    assert described["PreSignUp"] == "arn:aws:lambda:us-east-1:000000000000:function:python"
    assert described["PreTokenGenerationConfig"] == {"LambdaArn": arn, "LambdaVersion": "V2_0"}
    assert described["PreTokenGeneration"] == arn
    with pytest.raises(idp.exceptions.InvalidParameterException) as err:
        idp.create_user_pool(PoolName=unique("p"), LambdaConfig={
            "PreSignUp": "arn:aws:lambda:us-east-1:000000000000:function:nowhere"})
    assert "nowhere" in err.value.response["Error"]["Message"]
    created = idp.create_user_pool(PoolName=unique("p"), LambdaConfig={
        "PostConfirmation": "arn:aws:lambda:us-east-1:000000000000:function:node-post",
        "PreTokenGenerationConfig": {"LambdaArn": arn, "LambdaVersion": "V2_0"}})["UserPool"]
    assert created["LambdaConfig"]["PostConfirmation"].endswith(":function:node-post")
    listed = {p["Id"]: p for p in idp.list_user_pools(MaxResults=60)["UserPools"]}
    assert listed[created["Id"]]["LambdaConfig"]["PreTokenGeneration"] == arn
    # UpdateUserPool without LambdaConfig clears it, as Cognito does.
    idp.update_user_pool(UserPoolId=created["Id"])
    assert idp.describe_user_pool(UserPoolId=created["Id"])["UserPool"]["LambdaConfig"] == {}
    with pytest.raises(idp.exceptions.InvalidParameterException):
        idp.update_user_pool(UserPoolId=created["Id"], LambdaConfig={"CustomSMSSender": {
            "LambdaVersion": "V1_0", "LambdaArn": arn}})
    # Custom senders (KMS-encrypted codes) are refused, never kept without effect.
    with pytest.raises(idp.exceptions.InvalidParameterException) as err:
        idp.update_user_pool(UserPoolId=created["Id"], LambdaConfig={"CustomEmailSender": {
            "LambdaVersion": "V1_0", "LambdaArn": arn}, "KMSKeyID": "arn:aws:kms:us-east-1:000000000000:key/x"})
    assert "not supported" in err.value.response["Error"]["Message"]


@pytest.mark.parametrize("runtime", ["node", "python"])
def test_pre_and_post_authentication_run_around_the_sign_in(env, runtime):
    s, events = env
    pool, client = ids(s, runtime)
    public = s.client(signed=False)

    def make(prefix):
        name = unique(prefix)
        public.sign_up(ClientId=client, Username=name, Password=PASSWORD,
                       UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}])
        return name

    def sign_in(name):
        return public.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                                    AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})

    ok = make("auth")
    assert "AccessToken" in sign_in(ok)["AuthenticationResult"]
    pre = event(events, "PreAuthentication_Authentication", ok)
    check_common(pre, s, pool, "PreAuthentication_Authentication", ok, client)
    assert pre["request"]["userAttributes"]["email"] == f"{ok}@example.com"
    assert pre["request"]["userNotFound"] is False and pre["request"]["validationData"] is None
    post = event(events, "PostAuthentication_Authentication", ok)
    check_common(post, s, pool, "PostAuthentication_Authentication", ok, client)
    assert post["request"]["newDeviceUsed"] is False
    assert post["request"]["userAttributes"]["cognito:user_status"] == "CONFIRMED"

    for prefix, trigger, message in [("locked", "PreAuthentication", "Account locked"),
                                     ("nopost", "PostAuthentication", "No tokens for you")]:
        name = make(prefix)
        with pytest.raises(botocore.exceptions.ClientError) as err:
            sign_in(name)
        assert err.value.response["Error"]["Code"] == "UserLambdaValidationException"
        assert err.value.response["Error"]["Message"] == f"{trigger} failed with error {message}."
    # PreAuthentication runs before the password is checked.
    locked = make("locked")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        public.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": locked, "PASSWORD": "wrong-Passw0rd!"})
    assert err.value.response["Error"]["Code"] == "UserLambdaValidationException"


def test_hosted_sign_in_shows_a_trigger_refusal(env):
    import re
    import requests
    from urllib.parse import urlencode
    s, events = env
    pool, client = ids(s, "node")
    domain = s["HostedUiUrl"] if "HostedUiUrl" in s.outputs else None
    assert domain, s.outputs
    for prefix, message in [("locked", "PreAuthentication failed with error Account locked."),
                            ("nopost", "PostAuthentication failed with error No tokens for you.")]:
        name = unique(prefix)
        s.client(signed=False).sign_up(ClientId=client, Username=name, Password=PASSWORD,
                                       UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}])
        browser = requests.Session()
        url = domain + "/oauth2/authorize?" + urlencode({"client_id": client, "response_type": "code",
                                                         "redirect_uri": "http://localhost:3000/", "scope": "openid"})
        r = browser.get(url, allow_redirects=False)
        page = browser.get(domain + r.headers["Location"])
        csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
        action = re.search(r'action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
        done = browser.post(domain + action, allow_redirects=False,
                            data={"_csrf": csrf, "username": name, "password": PASSWORD})
        assert done.status_code == 400 and "Location" not in done.headers
        assert message in done.text


@pytest.mark.parametrize("runtime", ["node", "python"])
def test_custom_message_writes_the_messages(env, runtime):
    s, events = env
    pool, client = ids(s, runtime)
    public = s.client(signed=False)
    name = unique("msg")
    public.sign_up(ClientId=client, Username=name, Password=PASSWORD,
                   UserAttributes=[{"Name": "email", "Value": f"{name}@other.test"}])
    m = s.outbox_codes(name)[-1]
    assert m["subject"] == "Confirm your Acme account"
    assert m["body"] == f"Your Acme code is {m['code']}."
    public.confirm_sign_up(ClientId=client, Username=name, ConfirmationCode=m["code"])
    e = event(events, "CustomMessage_SignUp", name)
    check_common(e, s, pool, "CustomMessage_SignUp", name, "CLIENT_ID_NOT_APPLICABLE")
    assert e["request"]["codeParameter"] == "{####}" and e["request"]["linkParameter"] == "{##Click Here##}"
    assert e["request"]["usernameParameter"] is None
    assert e["request"]["userAttributes"]["email"] == f"{name}@other.test"
    assert e["response"] == {"smsMessage": None, "emailMessage": None, "emailSubject": None}

    # A message the function leaves alone keeps cognate's text.
    public.forgot_password(ClientId=client, Username=name)
    reset = s.outbox_codes(name)[-1]
    assert reset["code"] in reset["body"] and "Acme" not in reset["body"]
    assert event(events, "CustomMessage_ForgotPassword", name)["triggerSource"] == "CustomMessage_ForgotPassword"

    invited = unique("inv")
    s.client().admin_create_user(UserPoolId=pool, Username=invited,
                                 UserAttributes=[{"Name": "email", "Value": f"{invited}@other.test"}])
    m = s.outbox_codes(invited)[-1]
    assert m["subject"] == "Welcome to Acme"
    assert m["body"] == f"Hello {invited}, your temporary password is {m['code']}"
    e = event(events, "CustomMessage_AdminCreateUser", invited)
    assert e["request"]["usernameParameter"] == "{username}"
    r = public.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": invited, "PASSWORD": m["code"]})
    assert r["ChallengeName"] == "NEW_PASSWORD_REQUIRED"

    bad = unique("badmsg")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        public.sign_up(ClientId=client, Username=bad, Password=PASSWORD,
                       UserAttributes=[{"Name": "email", "Value": f"{bad}@other.test"}])
    assert err.value.response["Error"]["Code"] == "InvalidLambdaResponseException"


@pytest.mark.parametrize("runtime", ["node", "python"])
def test_user_migration_creates_users_from_the_old_store(env, runtime):
    s, events = env
    pool, client = ids(s, runtime)
    public = s.client(signed=False)
    legacy = unique("legacy")
    r = public.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": legacy, "PASSWORD": "Legacy-Passw0rd!"})
    assert "AccessToken" in r["AuthenticationResult"]
    e = event(events, "UserMigration_Authentication", legacy)
    check_common(e, s, pool, "UserMigration_Authentication", legacy, client)
    assert e["request"] == {"password": "Legacy-Passw0rd!", "validationData": None, "clientMetadata": {}}
    user = s.client().admin_get_user(UserPoolId=pool, Username=legacy)
    assert user["UserStatus"] == "CONFIRMED"
    assert {"Name": "email", "Value": f"{legacy}@legacy.test"} in user["UserAttributes"]
    # Migrated once: the next sign-in is the pool's own (no function call).
    (events / f"UserMigration_Authentication-{legacy}.json").unlink()
    public.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                         AuthParameters={"USERNAME": legacy, "PASSWORD": "Legacy-Passw0rd!"})
    assert not (events / f"UserMigration_Authentication-{legacy}.json").exists()

    # A wrong password in the old store: refused, nobody created.
    other = unique("legacy")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        public.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": other, "PASSWORD": "nope-Passw0rd!"})
    assert err.value.response["Error"]["Code"] == "UserLambdaValidationException"
    with pytest.raises(s.client().exceptions.UserNotFoundException):
        s.client().admin_get_user(UserPoolId=pool, Username=other)

    # Forgot password of an old user: created to reset, the code sent.
    forgot = unique("legacy")
    public.forgot_password(ClientId=client, Username=forgot)
    assert s.client().admin_get_user(UserPoolId=pool, Username=forgot)["UserStatus"] == "RESET_REQUIRED"
    code = s.outbox_codes(forgot)[-1]["code"]
    public.confirm_forgot_password(ClientId=client, Username=forgot, ConfirmationCode=code, Password=PASSWORD)
    r = public.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": forgot, "PASSWORD": PASSWORD})
    assert "AccessToken" in r["AuthenticationResult"]
    assert event(events, "UserMigration_ForgotPassword", forgot)["request"] == {"validationData": None, "clientMetadata": {}}


@pytest.mark.parametrize("runtime", ["node", "python"])
def test_custom_auth_challenges_until_define_says_so(env, runtime):
    s, events = env
    pool, client = ids(s, runtime)
    public = s.client(signed=False)
    name = unique("otp")
    public.sign_up(ClientId=client, Username=name, Password=PASSWORD,
                   UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}])
    r = public.initiate_auth(ClientId=client, AuthFlow="CUSTOM_AUTH", AuthParameters={"USERNAME": name})
    assert r["ChallengeName"] == "CUSTOM_CHALLENGE"
    assert r["ChallengeParameters"] == {"hint": f"the answer is 42-{name}", "attempt": "1", "USERNAME": name}
    define = event(events, "DefineAuthChallenge_Authentication", name)
    check_common(define, s, pool, "DefineAuthChallenge_Authentication", name, client)
    assert define["request"]["session"] == [] and define["request"]["userNotFound"] is False
    create = event(events, "CreateAuthChallenge_Authentication", name)
    assert create["request"]["challengeName"] == "CUSTOM_CHALLENGE"
    # A wrong answer: Define hears it and asks again.
    r = public.respond_to_auth_challenge(ClientId=client, ChallengeName="CUSTOM_CHALLENGE", Session=r["Session"],
                                         ChallengeResponses={"USERNAME": name, "ANSWER": "41"})
    assert r["ChallengeName"] == "CUSTOM_CHALLENGE" and r["ChallengeParameters"]["attempt"] == "2"
    verify = event(events, "VerifyAuthChallengeResponse_Authentication", name)
    assert verify["request"]["privateChallengeParameters"] == {"answer": f"42-{name}"}
    assert verify["request"]["challengeAnswer"] == "41"
    assert event(events, "DefineAuthChallenge_Authentication", name)["request"]["session"] == [
        {"challengeName": "CUSTOM_CHALLENGE", "challengeResult": False, "challengeMetadata": "OTP-1"}]
    # A session is single use.
    used = r["Session"]
    r = public.respond_to_auth_challenge(ClientId=client, ChallengeName="CUSTOM_CHALLENGE", Session=used,
                                         ChallengeResponses={"USERNAME": name, "ANSWER": f"42-{name}"})
    assert "AccessToken" in r["AuthenticationResult"]
    with pytest.raises(public.exceptions.NotAuthorizedException):
        public.respond_to_auth_challenge(ClientId=client, ChallengeName="CUSTOM_CHALLENGE", Session=used,
                                         ChallengeResponses={"USERNAME": name, "ANSWER": f"42-{name}"})
    # Three wrong answers: Define fails the sign-in.
    r = public.initiate_auth(ClientId=client, AuthFlow="CUSTOM_AUTH", AuthParameters={"USERNAME": name})
    with pytest.raises(public.exceptions.NotAuthorizedException):
        for _ in range(3):
            r = public.respond_to_auth_challenge(ClientId=client, ChallengeName="CUSTOM_CHALLENGE",
                                                 Session=r["Session"],
                                                 ChallengeResponses={"USERNAME": name, "ANSWER": "nope"})


def test_amplify_custom_with_srp_and_without(env, tmp_path):
    import subprocess
    s, events = env
    pool, client = ids(s, "node")
    name = unique("amp")
    s.client(signed=False).sign_up(ClientId=client, Username=name, Password=PASSWORD,
                                   UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}])
    js = ROOT / "tests" / "js"
    for flow in ["CUSTOM_WITH_SRP", "CUSTOM_WITHOUT_SRP"]:
        payload = {"endpoint": s["CognitoEndpoint"], "userPoolId": pool, "clientId": client, "username": name,
                   "password": PASSWORD, "authFlowType": flow, "answer": f"42-{name}"}
        out = subprocess.run(["node", str(js / "amplify-custom.mjs")], input=json.dumps(payload),
                             capture_output=True, text=True, timeout=120, cwd=js)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        assert result["ok"], result
        assert result["first"] == "CONFIRM_SIGN_IN_WITH_CUSTOM_CHALLENGE"
        assert result["hint"] == f"the answer is 42-{name}"
        assert result["done"] == {"isSignedIn": True, "nextStep": "DONE"}
        claims = jwt.decode(result["idToken"], options={"verify_signature": False})
        assert claims["tenant"] == "acme"  # PreTokenGeneration ran too
        history = [(h["challengeName"], h["challengeResult"])
                   for h in event(events, "DefineAuthChallenge_Authentication", name)["request"]["session"]]
        if flow == "CUSTOM_WITH_SRP":
            assert history == [("SRP_A", True), ("PASSWORD_VERIFIER", True), ("CUSTOM_CHALLENGE", True)]
        else:
            assert history == [("CUSTOM_CHALLENGE", True)]


def test_pre_token_generation_v3_sees_client_credentials(env):
    import requests
    s, events = env
    idp = s.client()
    pools = {p["Name"]: p["Id"] for p in idp.list_user_pools(MaxResults=10)["UserPools"]}
    pool = pools["m2m"]
    client = idp.list_user_pool_clients(UserPoolId=pool, MaxResults=10)["UserPoolClients"][0]["ClientId"]
    secret = idp.describe_user_pool_client(UserPoolId=pool, ClientId=client)["UserPoolClient"]["ClientSecret"]
    # The pool's token endpoint, as its discovery document gives it.
    discovery = requests.get(f"{s['CognitoEndpoint']}/{pool}/.well-known/openid-configuration", timeout=10).json()
    r = requests.post(discovery["token_endpoint"], data={"grant_type": "client_credentials"},
                      auth=(client, secret), timeout=30)
    assert r.status_code == 200, r.text
    at = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert at["tenant"] == "acme" and at["roles"] == ["admin", "billing"]
    assert at["scope"] == "m2m-api/read orders/read" and at["sub"] == client
    e = event(events, "TokenGeneration_ClientCredentials", client)
    check_common(e, s, pool, "TokenGeneration_ClientCredentials", client, client, version="3")
    assert e["request"]["scopes"] == ["m2m-api/read"] and e["request"]["userAttributes"] == {}


def test_verifiers_and_the_gateway_see_the_triggers_claims(env):
    import subprocess
    import requests
    s, _ = env
    pool, client = ids(s, "python")
    public = s.client(signed=False)
    name = unique("ver")
    public.sign_up(ClientId=client, Username=name, Password=PASSWORD,
                   UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}])
    tokens = public.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                                  AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})["AuthenticationResult"]
    jwks = requests.get(f"{s['CognitoEndpoint']}/{pool}/.well-known/jwks.json", timeout=10).json()
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool}"
    # PyJWT, with the pool's key and the AWS-form issuer.
    kid = jwt.get_unverified_header(tokens["AccessToken"])["kid"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid)).key
    claims = jwt.decode(tokens["AccessToken"], key, algorithms=["RS256"], issuer=issuer, options={"verify_aud": False})
    assert claims["tenant"] == "acme" and claims["roles"] == ["admin", "billing"]
    # aws-jwt-verify's CognitoJwtVerifier by pool id.
    js = ROOT / "tests" / "js"
    out = subprocess.run(["node", str(js / "verify.mjs")], capture_output=True, text=True, timeout=60, cwd=js,
                         input=json.dumps({"mode": "cognito", "userPoolId": pool, "tokenUse": "access",
                                           "clientId": client, "jwks": jwks, "token": tokens["AccessToken"]}))
    verified = json.loads(out.stdout)
    assert verified["ok"], out.stdout + out.stderr
    assert verified["payload"]["tenant"] == "acme"
    # The gateway's JWT authorizer passes them to the integration.
    r = requests.get(s["ApiUrl"] + "/claims", headers={"Authorization": f"Bearer {tokens['AccessToken']}"}, timeout=30)
    assert r.status_code == 200, r.text
    seen = r.json()["requestContext"]["authorizer"]["jwt"]["claims"]
    assert seen["tenant"] == "acme" and seen["sub"] == claims["sub"]


def test_amplify_with_auto_confirm_token_claims_and_attribute_verification(env):
    import subprocess
    s, _ = env
    pool, client = ids(s, "python")
    name = unique("ampt")
    js = ROOT / "tests" / "js"
    payload = {"endpoint": s["CognitoEndpoint"], "userPoolId": pool, "clientId": client, "username": name,
               "password": PASSWORD, "email": f"{name}@example.com", "newEmail": f"{name}@new.test",
               "outboxDir": s["OutboxDir"]}
    out = subprocess.run(["node", str(js / "amplify-triggers.mjs")], input=json.dumps(payload),
                         capture_output=True, text=True, timeout=120, cwd=js)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ok"], result.get("error")
    assert result["signUp"] == {"isSignUpComplete": True, "nextStep": "DONE"}
    assert result["signIn"] == {"isSignedIn": True, "nextStep": "DONE"}
    access = jwt.decode(result["accessToken"], options={"verify_signature": False})
    assert access["tenant"] == "acme" and "aws.cognito.signin.user.admin" in access["scope"].split()
    assert result["updateStep"] == "CONFIRM_ATTRIBUTE_WITH_CODE"
    assert result["attributes"]["email"] == f"{name}@new.test"
    assert result["attributes"]["email_verified"] == "true"


def test_aws_cli_round_trips_lambda_config(env):
    from test_seeds_cli import cli
    s, _ = env
    arn = "arn:aws:lambda:us-east-1:000000000000:function:node-post"
    created = cli(s, "create-user-pool", "--pool-name", unique("cli"),
                  "--lambda-config", json.dumps({"PostConfirmation": arn}))
    assert created.returncode == 0, created.stderr
    pool = json.loads(created.stdout)["UserPool"]["Id"]
    described = cli(s, "describe-user-pool", "--user-pool-id", pool)
    assert json.loads(described.stdout)["UserPool"]["LambdaConfig"] == {"PostConfirmation": arn}
    bad = cli(s, "update-user-pool", "--user-pool-id", pool,
              "--lambda-config", json.dumps({"PreSignUp": arn.replace("node-post", "missing")}))
    assert bad.returncode != 0 and "InvalidParameterException" in bad.stderr and "missing" in bad.stderr


def test_hosted_sign_up_follows_the_pre_sign_up_answer(env):
    import re
    import requests
    from urllib.parse import urlencode
    s, _ = env
    pool, client = ids(s, "node")
    domain = s["HostedUiUrl"]
    query = urlencode({"client_id": client, "response_type": "code", "redirect_uri": "http://localhost:3000/",
                       "scope": "openid"})

    def sign_up(name, email):
        browser = requests.Session()
        page = browser.get(f"{domain}/signup?{query}")
        csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
        return browser.post(f"{domain}/signup?{query}", allow_redirects=False,
                            data={"_csrf": csrf, "username": name, "email": email, "password": PASSWORD})

    # Auto-confirmed by the function: straight to sign-in.
    name = unique("hosted")
    r = sign_up(name, f"{name}@example.com")
    assert r.status_code in (302, 303) and r.headers["Location"].startswith("/login?"), r.headers
    assert s.client().admin_get_user(UserPoolId=pool, Username=name)["UserStatus"] == "CONFIRMED"
    # Not confirmed: the code page.
    other = unique("hosted")
    r = sign_up(other, f"{other}@other.test")
    assert r.headers["Location"].startswith("/confirmUser?")
    # Refused: the page shows the function's message and nothing is written.
    blocked = unique("blocked")
    r = sign_up(blocked, f"{blocked}@example.com")
    assert r.status_code == 400 and "PreSignUp failed with error Blocked user." in r.text
    with pytest.raises(s.client().exceptions.UserNotFoundException):
        s.client().admin_get_user(UserPoolId=pool, Username=blocked)


def test_new_password_challenge_and_hidden_users_have_their_sources(env):
    s, events = env
    pool, client = ids(s, "node")
    admin, public = s.client(), s.client(signed=False)
    name = unique("newpw")
    admin.admin_create_user(UserPoolId=pool, Username=name, TemporaryPassword="Temp-Passw0rd!", MessageAction="SUPPRESS")
    r = public.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": name, "PASSWORD": "Temp-Passw0rd!"})
    r = public.respond_to_auth_challenge(ClientId=client, ChallengeName="NEW_PASSWORD_REQUIRED", Session=r["Session"],
                                         ChallengeResponses={"USERNAME": name, "NEW_PASSWORD": PASSWORD})
    assert "AccessToken" in r["AuthenticationResult"]
    e = event(events, "TokenGeneration_NewPasswordChallenge", name)
    check_common(e, s, pool, "TokenGeneration_NewPasswordChallenge", name, client)

    # A client hiding which users exist: PreAuthentication hears of the
    # unknown name (userNotFound), the caller gets the usual answer.
    _, hidden = ids(s, "node", "hidden")
    ghost = unique("ghost")
    with pytest.raises(public.exceptions.NotAuthorizedException):
        public.initiate_auth(ClientId=hidden, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": ghost, "PASSWORD": PASSWORD})
    e = event(events, "PreAuthentication_Authentication", ghost)
    check_common(e, s, pool, "PreAuthentication_Authentication", ghost, hidden)
    assert e["request"] == {"userAttributes": {}, "validationData": None, "userNotFound": True}
    # The migration function's refusal is not told to such a client either.
    legacy = unique("legacy")
    with pytest.raises(public.exceptions.NotAuthorizedException):
        public.initiate_auth(ClientId=hidden, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": legacy, "PASSWORD": "wrong-Passw0rd!"})
    assert event(events, "UserMigration_Authentication", legacy)["request"]["password"] == "wrong-Passw0rd!"


@pytest.mark.parametrize("runtime", ["node", "python"])
def test_pre_sign_up_for_a_federated_user(tmp_path, runtime):
    """PreSignUp_ExternalProvider: the first federated sign-in asks the
    function; it may verify the email, or refuse (then the app hears
    Cognito's message and no user exists)."""
    from idp_standin import StandIn
    from test_federation import Landing
    from test_federation_social import Flow, app_error

    events = tmp_path / "events"
    events.mkdir()
    handler = "index.preSignUp" if runtime == "node" else "triggers.pre_sign_up"
    cfg = tmp_path / "federated.toml"
    cfg.write_text(f"""
version = 1
[[functions]]
name = "pre"
runtime = "{'nodejs' if runtime == 'node' else 'python'}"
code = "{FIXTURES / runtime}"
handler = "{handler}"
environment = {{ EVENTS_DIR = "{events}" }}

[[user_pools]]
name = "federated"
output = "UserPool"
domain = {{ prefix = "federated-{runtime}" }}
triggers = {{ pre_sign_up = "pre" }}
""")
    s = Server(tmp_path / "data", config=cfg).start()
    stand, landing = StandIn("OIDC"), Landing()
    try:
        admin = s.client()
        pool = s["UserPoolId"]
        stand.name = "Corp"
        admin.create_identity_provider(UserPoolId=pool, ProviderName="Corp", ProviderType="OIDC",
                                       ProviderDetails=stand.details(), AttributeMapping={"email": "email"})
        client = admin.create_user_pool_client(
            UserPoolId=pool, ClientName="web", AllowedOAuthFlowsUserPoolClient=True, AllowedOAuthFlows=["code"],
            AllowedOAuthScopes=["openid", "email", "profile"], CallbackURLs=[landing.url],
            SupportedIdentityProviders=["Corp"])["UserPoolClient"]["ClientId"]

        stand.person = {"sub": "emp-1", "email": "emp1@example.com"}
        flow = Flow(s, stand, client, landing)
        claims = flow.tokens(flow.run())
        assert claims["cognito:username"] == "Corp_emp-1"
        # The function's autoVerifyEmail (for @example.com) verified it.
        assert claims["email_verified"] is True
        e = event(events, "PreSignUp_ExternalProvider", "Corp_emp-1")
        check_common(e, s, pool, "PreSignUp_ExternalProvider", "Corp_emp-1", client)
        assert e["request"] == {"userAttributes": {"email": "emp1@example.com"}, "validationData": None,
                                "clientMetadata": {}}
        # The second sign-in finds the user: no second PreSignUp.
        (events / "PreSignUp_ExternalProvider-Corp_emp-1.json").unlink()
        flow = Flow(s, stand, client, landing)
        assert flow.tokens(flow.run())["sub"] == claims["sub"]
        assert not (events / "PreSignUp_ExternalProvider-Corp_emp-1.json").exists()

        stand.person = {"sub": "ext-2", "email": "x@blocked.test"}
        q = app_error(Flow(s, stand, client, landing).run(), landing)
        assert q["error"] == "invalid_request"
        assert q["error_description"] == "PreSignUp failed with error Domain not allowed."
        with pytest.raises(admin.exceptions.UserNotFoundException):
            admin.admin_get_user(UserPoolId=pool, Username="Corp_ext-2")
    finally:
        stand.close()
        landing.close()
        s.stop()
