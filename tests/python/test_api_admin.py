"""boto3 against the admin side of the JSON API: pools, app clients,
resource servers, groups, and the protocol itself (SigV4, errors, `{}`)."""

import json

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import error_type, unique

TARGET = "AWSCognitoIdentityProviderService."


def raw(server, op, body, headers=None):
    h = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + op}
    h.update(headers or {})
    return requests.post(server["CognitoEndpoint"], data=json.dumps(body), headers=h, timeout=10)


# --- protocol ---------------------------------------------------------------

def test_unsigned_admin_call_is_refused_with_missing_authentication_token(server):
    r = raw(server, "ListUsers", {"UserPoolId": server["UserPoolId"]})
    assert r.status_code == 403
    assert r.json()["__type"] == "MissingAuthenticationTokenException"
    assert r.headers["x-amzn-ErrorType"].split(":")[0] == "MissingAuthenticationTokenException"


def test_admin_call_signed_with_an_unknown_key_is_unrecognized(server, public):
    with pytest.raises(ClientError) as e:
        public.list_users(UserPoolId=server["UserPoolId"])
    assert error_type(e) == "UnrecognizedClientException"


def test_admin_call_signed_with_a_wrong_secret_is_refused(server):
    import boto3
    c = boto3.client("cognito-idp", endpoint_url=server["CognitoEndpoint"], region_name="us-east-1",
                     aws_access_key_id=server["AdminAccessKeyId"], aws_secret_access_key="x" * 40)
    with pytest.raises(ClientError) as e:
        c.list_users(UserPoolId=server["UserPoolId"])
    assert error_type(e) == "InvalidSignatureException"


def test_admin_call_signed_for_another_region_is_refused(server):
    import boto3
    c = boto3.client("cognito-idp", endpoint_url=server["CognitoEndpoint"], region_name="eu-west-1",
                     aws_access_key_id=server["AdminAccessKeyId"], aws_secret_access_key=server["AdminSecretAccessKey"])
    with pytest.raises(ClientError) as e:
        c.list_users(UserPoolId=server["UserPoolId"])
    assert error_type(e) == "InvalidSignatureException"


def test_public_operations_need_no_signature(server):
    r = raw(server, "InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": server["UserPoolClientId"],
                                     "AuthParameters": {"USERNAME": "nobody", "PASSWORD": "x"}})
    assert r.status_code == 400
    assert r.json() == {"__type": "NotAuthorizedException", "message": "Incorrect username or password."}
    assert r.headers["Content-Type"] == "application/x-amz-json-1.1"
    assert r.headers["x-amzn-ErrorType"] == "NotAuthorizedException:"
    assert r.headers["x-amzn-RequestId"]


def test_unknown_operation_and_bad_json(server):
    r = raw(server, "NoSuchThing", {})
    assert (r.status_code, r.json()["__type"]) == (400, "UnknownOperationException")
    bad = requests.post(server["CognitoEndpoint"], data="{not json", timeout=10,
                        headers={"X-Amz-Target": TARGET + "SignUp", "Content-Type": "application/x-amz-json-1.1"})
    assert (bad.status_code, bad.json()["__type"]) == (400, "SerializationException")
    missing = raw(server, "SignUp", {"Username": "x"})
    assert missing.json()["__type"] == "InvalidParameterException"
    assert "Member must not be null" in missing.json()["message"]


def test_empty_results_are_an_empty_object(server, admin, public, user):
    tokens = public.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=server["UserPoolClientId"],
                                  AuthParameters={"USERNAME": user, "PASSWORD": "Corr3ct-Horse!"})["AuthenticationResult"]
    r = raw(server, "GlobalSignOut", {"AccessToken": tokens["AccessToken"]})
    assert (r.status_code, r.text) == (200, "{}")


def test_cors_preflight_allows_browser_sdks(server):
    r = requests.options(server["CognitoEndpoint"], timeout=10, headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-amz-target,x-amz-user-agent"})
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    allowed = r.headers["Access-Control-Allow-Headers"]
    for h in ["content-type", "x-amz-target", "x-amz-user-agent", "authorization", "x-amz-date"]:
        assert h in allowed


def test_oversized_body_is_refused_without_effect(server, admin):
    name = unique("big")
    body = json.dumps({"ClientId": server["UserPoolClientId"], "Username": name, "Password": "Corr3ct-Horse!",
                        "UserAttributes": [{"Name": "name", "Value": "x" * (300 * 1024)}]})
    r = requests.post(server["CognitoEndpoint"], data=body, timeout=10,
                      headers={"X-Amz-Target": TARGET + "SignUp", "Content-Type": "application/x-amz-json-1.1"})
    assert r.status_code == 413
    with pytest.raises(admin.exceptions.UserNotFoundException):
        admin.admin_get_user(UserPoolId=server["UserPoolId"], Username=name)


# --- user pools -------------------------------------------------------------

def test_user_pool_lifecycle(admin):
    created = admin.create_user_pool(
        PoolName="pool-a",
        Policies={"PasswordPolicy": {"MinimumLength": 10, "RequireUppercase": True, "RequireLowercase": True,
                                     "RequireNumbers": False, "RequireSymbols": False}},
        UsernameAttributes=["email"], AutoVerifiedAttributes=["email"],
    )["UserPool"]
    pid = created["Id"]
    region, rest = pid.split("_")
    assert region == "us-east-1" and rest.isalnum() and len(rest) == 9
    assert created["Arn"] == f"arn:aws:cognito-idp:us-east-1:000000000000:userpool/{pid}"
    assert created["Policies"]["PasswordPolicy"]["MinimumLength"] == 10
    assert created["UsernameAttributes"] == ["email"]
    d = admin.describe_user_pool(UserPoolId=pid)["UserPool"]
    assert d["Name"] == "pool-a" and d["EstimatedNumberOfUsers"] == 0
    assert any(a["Name"] == "email" for a in d["SchemaAttributes"])
    admin.update_user_pool(UserPoolId=pid, Policies={"PasswordPolicy": {"MinimumLength": 12}})
    d = admin.describe_user_pool(UserPoolId=pid)["UserPool"]
    assert d["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
    assert d["UsernameAttributes"] == ["email"], "sign-in attributes survive an update"
    admin.delete_user_pool(UserPoolId=pid)
    with pytest.raises(ClientError) as e:
        admin.describe_user_pool(UserPoolId=pid)
    assert error_type(e) == "ResourceNotFoundException"


def test_list_user_pools_pages(admin):
    for i in range(3):
        admin.create_user_pool(PoolName=f"page-{i}")
    seen, token = [], None
    while True:
        kw = {"MaxResults": 1}
        if token:
            kw["NextToken"] = token
        page = admin.list_user_pools(**kw)
        seen += [p["Id"] for p in page["UserPools"]]
        token = page.get("NextToken")
        if not token:
            break
    assert len(seen) == len(set(seen)) >= 4
    paginated = [p["Id"] for page in admin.get_paginator("list_user_pools").paginate(MaxResults=2) for p in page["UserPools"]]
    assert sorted(paginated) == sorted(seen)


def test_user_pool_failures(admin):
    with pytest.raises(ClientError) as e:
        admin.describe_user_pool(UserPoolId="not-a-pool-id")
    assert error_type(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        admin.describe_user_pool(UserPoolId="us-east-1_nothere")
    assert error_type(e) == "ResourceNotFoundException"
    import boto3, botocore.config
    unchecked = boto3.client("cognito-idp", endpoint_url=admin.meta.endpoint_url, region_name="us-east-1",
                             aws_access_key_id=admin._request_signer._credentials.access_key,
                             aws_secret_access_key=admin._request_signer._credentials.secret_key,
                             config=botocore.config.Config(parameter_validation=False))
    with pytest.raises(ClientError) as e:
        unchecked.create_user_pool(PoolName="bad", Policies={"PasswordPolicy": {"MinimumLength": 3}})
    assert error_type(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        admin.create_user_pool(PoolName="bad", UsernameAttributes=["email"], AliasAttributes=["email"])
    assert error_type(e) == "InvalidParameterException"
    protected = admin.create_user_pool(PoolName="protected", DeletionProtection="ACTIVE")["UserPool"]["Id"]
    with pytest.raises(ClientError) as e:
        admin.delete_user_pool(UserPoolId=protected)
    assert error_type(e) == "InvalidParameterException"


# --- app clients ------------------------------------------------------------

@pytest.fixture
def pool(admin):
    pid = admin.create_user_pool(PoolName=unique("pool"))["UserPool"]["Id"]
    admin.create_resource_server(UserPoolId=pid, Identifier="api", Name="API",
                                 Scopes=[{"ScopeName": "read", "ScopeDescription": "r"}])
    return pid


def test_app_client_lifecycle(admin, pool):
    c = admin.create_user_pool_client(
        UserPoolId=pool, ClientName="web", GenerateSecret=True,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        AccessTokenValidity=30, IdTokenValidity=30, RefreshTokenValidity=7,
        TokenValidityUnits={"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"},
        CallbackURLs=["https://app.example.com/cb", "http://localhost:3000/"], AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid", "api/read"], AllowedOAuthFlowsUserPoolClient=True,
        PreventUserExistenceErrors="ENABLED",
    )["UserPoolClient"]
    assert len(c["ClientId"]) == 26 and len(c["ClientSecret"]) == 51
    assert c["AccessTokenValidity"] == 30 and c["TokenValidityUnits"]["AccessToken"] == "minutes"
    assert c["ExplicitAuthFlows"] == ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    d = admin.describe_user_pool_client(UserPoolId=pool, ClientId=c["ClientId"])["UserPoolClient"]
    assert d["ClientSecret"] == c["ClientSecret"] and d["CallbackURLs"] == c["CallbackURLs"]
    listed = admin.list_user_pool_clients(UserPoolId=pool, MaxResults=10)["UserPoolClients"]
    assert {"ClientId": c["ClientId"], "UserPoolId": pool, "ClientName": "web"} in listed
    u = admin.update_user_pool_client(UserPoolId=pool, ClientId=c["ClientId"], ClientName="renamed")["UserPoolClient"]
    assert u["ClientName"] == "renamed"
    assert u["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_CUSTOM_AUTH"], \
        "an update replaces the whole client: omitted members take their defaults"
    assert "CallbackURLs" not in u
    admin.delete_user_pool_client(UserPoolId=pool, ClientId=c["ClientId"])
    with pytest.raises(ClientError) as e:
        admin.describe_user_pool_client(UserPoolId=pool, ClientId=c["ClientId"])
    assert error_type(e) == "ResourceNotFoundException"


def test_app_client_rules(admin, pool):
    cases = [
        (dict(AllowedOAuthFlows=["client_credentials"], AllowedOAuthScopes=["api/read"],
              AllowedOAuthFlowsUserPoolClient=True), "InvalidOAuthFlowException"),
        (dict(GenerateSecret=True, AllowedOAuthFlows=["client_credentials", "code"], AllowedOAuthScopes=["api/read"],
              AllowedOAuthFlowsUserPoolClient=True), "InvalidOAuthFlowException"),
        (dict(AllowedOAuthFlows=["code"], AllowedOAuthScopes=["api/write"], CallbackURLs=["https://a.example/cb"],
              AllowedOAuthFlowsUserPoolClient=True), "ScopeDoesNotExistException"),
        (dict(CallbackURLs=["http://evil.example/cb"]), "InvalidParameterException"),
        (dict(CallbackURLs=["javascript:alert(1)"]), "InvalidParameterException"),
        (dict(CallbackURLs=["https://a.example/cb#frag"]), "InvalidParameterException"),
        (dict(AccessTokenValidity=2, TokenValidityUnits={"AccessToken": "days"}), "InvalidParameterException"),
        (dict(ExplicitAuthFlows=["ALLOW_NOTHING"]), "InvalidParameterException"),
    ]
    for kwargs, expected in cases:
        with pytest.raises(ClientError) as e:
            admin.create_user_pool_client(UserPoolId=pool, ClientName="c", **kwargs)
        assert error_type(e) == expected, kwargs
    ok = admin.create_user_pool_client(UserPoolId=pool, ClientName="m2m", GenerateSecret=True,
                                       AllowedOAuthFlows=["client_credentials"], AllowedOAuthScopes=["api/read"],
                                       AllowedOAuthFlowsUserPoolClient=True)["UserPoolClient"]
    assert ok["AllowedOAuthFlows"] == ["client_credentials"]
    with pytest.raises(ClientError) as e:
        admin.describe_user_pool_client(UserPoolId="us-east-1_nothere", ClientId=ok["ClientId"])
    assert error_type(e) == "ResourceNotFoundException"


# --- resource servers -------------------------------------------------------

def test_resource_server_lifecycle(admin, pool):
    rs = admin.create_resource_server(UserPoolId=pool, Identifier="https://api.example.com", Name="Ex",
                                      Scopes=[{"ScopeName": "a", "ScopeDescription": "A"}])["ResourceServer"]
    assert rs["Scopes"] == [{"ScopeName": "a", "ScopeDescription": "A"}]
    with pytest.raises(ClientError) as e:
        admin.create_resource_server(UserPoolId=pool, Identifier="https://api.example.com", Name="Ex")
    assert error_type(e) == "InvalidParameterException"
    d = admin.describe_resource_server(UserPoolId=pool, Identifier="https://api.example.com")["ResourceServer"]
    assert d == rs
    ids = [r["Identifier"] for r in admin.list_resource_servers(UserPoolId=pool, MaxResults=10)["ResourceServers"]]
    assert ids == ["api", "https://api.example.com"]
    u = admin.update_resource_server(UserPoolId=pool, Identifier="https://api.example.com", Name="New",
                                     Scopes=[{"ScopeName": "b", "ScopeDescription": "B"}])["ResourceServer"]
    assert u["Name"] == "New" and u["Scopes"][0]["ScopeName"] == "b"
    admin.delete_resource_server(UserPoolId=pool, Identifier="https://api.example.com")
    with pytest.raises(ClientError) as e:
        admin.describe_resource_server(UserPoolId=pool, Identifier="https://api.example.com")
    assert error_type(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        admin.create_resource_server(UserPoolId=pool, Identifier="x", Name="X",
                                     Scopes=[{"ScopeName": "has/slash", "ScopeDescription": "d"}])
    assert error_type(e) == "InvalidParameterException"


def test_demo_resource_server_is_declared(server, admin):
    rs = admin.describe_resource_server(UserPoolId=server["UserPoolId"], Identifier="demo-api")["ResourceServer"]
    assert rs["Scopes"] == [{"ScopeName": "read", "ScopeDescription": "Read the demo API"}]
    m = admin.describe_user_pool_client(UserPoolId=server["UserPoolId"], ClientId=server["MachineClientId"])
    assert m["UserPoolClient"]["AllowedOAuthScopes"] == ["demo-api/read"]
    assert m["UserPoolClient"]["ClientSecret"] == server["MachineClientSecret"]


# --- groups -----------------------------------------------------------------

def test_groups_and_memberships(server, admin, user):
    pid = server["UserPoolId"]
    g1, g2 = unique("grp"), unique("grp")
    created = admin.create_group(UserPoolId=pid, GroupName=g1, Description="first", Precedence=5)["Group"]
    assert (created["GroupName"], created["Precedence"], created["Description"]) == (g1, 5, "first")
    admin.create_group(UserPoolId=pid, GroupName=g2, Precedence=1)
    with pytest.raises(ClientError) as e:
        admin.create_group(UserPoolId=pid, GroupName=g1)
    assert error_type(e) == "GroupExistsException"
    assert admin.get_group(UserPoolId=pid, GroupName=g1)["Group"]["Description"] == "first"
    assert admin.update_group(UserPoolId=pid, GroupName=g1, Description="changed")["Group"]["Description"] == "changed"
    names = [g["GroupName"] for g in admin.list_groups(UserPoolId=pid, Limit=60)["Groups"]]
    assert g1 in names and g2 in names

    admin.admin_add_user_to_group(UserPoolId=pid, Username=user, GroupName=g1)
    admin.admin_add_user_to_group(UserPoolId=pid, Username=user, GroupName=g2)
    admin.admin_add_user_to_group(UserPoolId=pid, Username=user, GroupName=g2)  # idempotent
    groups = [g["GroupName"] for g in admin.admin_list_groups_for_user(UserPoolId=pid, Username=user)["Groups"]]
    assert groups == [g2, g1], "ordered by precedence"
    page = admin.admin_list_groups_for_user(UserPoolId=pid, Username=user, Limit=1)
    assert len(page["Groups"]) == 1 and page["NextToken"]
    members = [u["Username"] for u in admin.list_users_in_group(UserPoolId=pid, GroupName=g1)["Users"]]
    assert members == [user]
    admin.admin_remove_user_from_group(UserPoolId=pid, Username=user, GroupName=g1)
    assert admin.list_users_in_group(UserPoolId=pid, GroupName=g1)["Users"] == []

    for call, kw, expected in [
        (admin.admin_add_user_to_group, dict(Username=user, GroupName="no-such-group"), "ResourceNotFoundException"),
        (admin.admin_add_user_to_group, dict(Username="no-such-user", GroupName=g1), "UserNotFoundException"),
        (admin.get_group, dict(GroupName="no-such-group"), "ResourceNotFoundException"),
        (admin.list_users_in_group, dict(GroupName="no-such-group"), "ResourceNotFoundException"),
        (admin.admin_list_groups_for_user, dict(Username="no-such-user"), "UserNotFoundException"),
    ]:
        with pytest.raises(ClientError) as e:
            call(UserPoolId=pid, **kw)
        assert error_type(e) == expected, (call, kw)
    admin.delete_group(UserPoolId=pid, GroupName=g2)
    assert admin.admin_list_groups_for_user(UserPoolId=pid, Username=user)["Groups"] == []
    with pytest.raises(ClientError) as e:
        admin.delete_group(UserPoolId=pid, GroupName=g2)
    assert error_type(e) == "ResourceNotFoundException"


def test_add_custom_attributes_extends_the_schema_once(server, admin):
    pool = admin.create_user_pool(PoolName=unique("custom"))["UserPool"]["Id"]
    admin.add_custom_attributes(UserPoolId=pool, CustomAttributes=[
        {"Name": "tenant", "AttributeDataType": "String"}, {"Name": "custom:level", "AttributeDataType": "Number", "Mutable": False}])
    schema = {a["Name"]: a for a in admin.describe_user_pool(UserPoolId=pool)["UserPool"]["SchemaAttributes"]}
    assert schema["custom:tenant"]["AttributeDataType"] == "String"
    assert schema["custom:level"]["AttributeDataType"] == "Number" and schema["custom:level"]["Mutable"] is False
    with pytest.raises(admin.exceptions.InvalidParameterException) as err:
        admin.add_custom_attributes(UserPoolId=pool, CustomAttributes=[{"Name": "tenant", "AttributeDataType": "String"}])
    assert "Existing attribute already has name custom:tenant." in str(err.value)
    admin.admin_create_user(UserPoolId=pool, Username="u1", MessageAction="SUPPRESS",
                            UserAttributes=[{"Name": "custom:tenant", "Value": "acme"}])
    attrs = {a["Name"]: a["Value"] for a in admin.admin_get_user(UserPoolId=pool, Username="u1")["UserAttributes"]}
    assert attrs["custom:tenant"] == "acme"


def test_timestamps_are_epoch_seconds_on_the_wire(server, admin):
    """Cognito sends dates as JSON numbers of seconds (botocore turns them
    into datetimes): read the raw bodies."""
    raw = {}

    def keep(http_response, **_):
        raw.update(json.loads(http_response.content))

    admin.meta.events.register("after-call.cognito-idp.AdminGetUser", keep)
    admin.meta.events.register("after-call.cognito-idp.DescribeUserPool", keep)
    try:
        name = unique("ts")
        admin.admin_create_user(UserPoolId=server["UserPoolId"], Username=name, MessageAction="SUPPRESS")
        got = admin.admin_get_user(UserPoolId=server["UserPoolId"], Username=name)
        described = admin.describe_user_pool(UserPoolId=server["UserPoolId"])["UserPool"]
    finally:
        admin.meta.events.unregister("after-call.cognito-idp.AdminGetUser", keep)
        admin.meta.events.unregister("after-call.cognito-idp.DescribeUserPool", keep)
    for value in (raw["UserCreateDate"], raw["UserLastModifiedDate"], raw["UserPool"]["CreationDate"],
                  raw["UserPool"]["LastModifiedDate"]):
        # Seconds (10 digits these decades), not milliseconds (13).
        assert isinstance(value, (int, float)) and 1e9 < value < 1e10, value
    assert got["UserCreateDate"].timestamp() == pytest.approx(raw["UserCreateDate"])
    assert described["CreationDate"].timestamp() == pytest.approx(raw["UserPool"]["CreationDate"])
