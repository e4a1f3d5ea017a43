"""boto3 against users and sign-in: sign-up and confirmation through the
outbox, admin management, self-service, password and refresh flows,
lockout, sign-out and revocation."""

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import PASSWORD, Server, error_type, faked_clock, make_user, unique

NEW_PASSWORD = "N3w-Passw0rd!"


def signin(server, public, username, password=PASSWORD, client="UserPoolClientId"):
    return public.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=server[client],
                                AuthParameters={"USERNAME": username, "PASSWORD": password})


def fails(expected, call, **kwargs):
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    assert error_type(e) == expected, e.value.response["Error"]
    return e.value.response["Error"]["Message"]


@pytest.fixture(scope="module")
def legacy_client(server, admin):
    """A client with PreventUserExistenceErrors LEGACY (the API default)."""
    return admin.create_user_pool_client(
        UserPoolId=server["UserPoolId"], ClientName="legacy",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]


def test_sign_up_and_confirm_with_the_code_from_the_outbox(server, public, admin):
    name = unique("signup")
    r = public.sign_up(ClientId=server["UserPoolClientId"], Username=name, Password=PASSWORD,
                       UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}])
    assert r["UserConfirmed"] is False and len(r["UserSub"]) == 36
    assert r["CodeDeliveryDetails"] == {"Destination": f"{name[0]}***@e***", "DeliveryMedium": "EMAIL",
                                        "AttributeName": "email"}
    assert admin.admin_get_user(UserPoolId=server["UserPoolId"], Username=name)["UserStatus"] == "UNCONFIRMED"
    fails("UserNotConfirmedException", signin, server=server, public=public, username=name)
    code = server.outbox_codes(name)[-1]["code"]
    wrong = "000000" if code != "000000" else "111111"
    fails("CodeMismatchException", public.confirm_sign_up, ClientId=server["UserPoolClientId"], Username=name,
          ConfirmationCode=wrong)
    public.confirm_sign_up(ClientId=server["UserPoolClientId"], Username=name, ConfirmationCode=code)
    msg = fails("NotAuthorizedException", public.confirm_sign_up, ClientId=server["UserPoolClientId"], Username=name,
                ConfirmationCode=code)
    assert msg == "User cannot be confirmed. Current status is CONFIRMED"
    got = admin.admin_get_user(UserPoolId=server["UserPoolId"], Username=name)
    assert got["UserStatus"] == "CONFIRMED"
    assert {"Name": "email_verified", "Value": "true"} in got["UserAttributes"]
    # The verified email is now an alias to sign in with.
    assert signin(server, public, f"{name}@example.com")["AuthenticationResult"]["AccessToken"]


def test_sign_up_failures(server, public):
    name = unique("signup")
    public.sign_up(ClientId=server["UserPoolClientId"], Username=name, Password=PASSWORD)
    fails("UsernameExistsException", public.sign_up, ClientId=server["UserPoolClientId"], Username=name, Password=PASSWORD)
    fails("UsernameExistsException", public.sign_up, ClientId=server["UserPoolClientId"], Username=name.upper(),
          Password=PASSWORD)
    msg = fails("InvalidPasswordException", public.sign_up, ClientId=server["UserPoolClientId"], Username=unique(),
                Password="Sh0rt!")
    assert msg == "Password did not conform with policy: Password not long enough"
    fails("InvalidPasswordException", public.sign_up, ClientId=server["UserPoolClientId"], Username=unique(),
          Password="alllowercase1!")
    fails("InvalidParameterException", public.sign_up, ClientId=server["UserPoolClientId"], Username=unique(),
          Password=PASSWORD, UserAttributes=[{"Name": "email", "Value": "not-an-email"}])
    fails("InvalidParameterException", public.sign_up, ClientId=server["UserPoolClientId"], Username=unique(),
          Password=PASSWORD, UserAttributes=[{"Name": "shoe_size", "Value": "9"}])
    fails("ResourceNotFoundException", public.sign_up, ClientId="nosuchclient", Username=unique(), Password=PASSWORD)
    fails("NotAuthorizedException", public.sign_up, ClientId=server["ConfidentialClientId"], Username=unique(),
          Password=PASSWORD)


def test_resend_confirmation_code_and_admin_confirm(server, public, admin, legacy_client):
    name = unique("resend")
    public.sign_up(ClientId=server["UserPoolClientId"], Username=name, Password=PASSWORD,
                   UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}])
    first = server.outbox_codes(name)[-1]["code"]
    r = public.resend_confirmation_code(ClientId=server["UserPoolClientId"], Username=name)
    assert r["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"
    assert len(server.outbox_codes(name)) == 2
    second = server.outbox_codes(name)[-1]["code"]
    # Codes are random: one in a million resends repeats the code, so ask
    # again until they differ; the first one must then be void.
    for _ in range(3):
        if first != second:
            break
        public.resend_confirmation_code(ClientId=server["UserPoolClientId"], Username=name)
        second = server.outbox_codes(name)[-1]["code"]
    assert first != second
    fails("CodeMismatchException", public.confirm_sign_up, ClientId=server["UserPoolClientId"], Username=name,
          ConfirmationCode=first)
    admin.admin_confirm_sign_up(UserPoolId=server["UserPoolId"], Username=name)
    fails("NotAuthorizedException", admin.admin_confirm_sign_up, UserPoolId=server["UserPoolId"], Username=name)
    fails("InvalidParameterException", public.resend_confirmation_code, ClientId=server["UserPoolClientId"],
          Username=name)
    fails("UserNotFoundException", public.resend_confirmation_code, ClientId=legacy_client, Username="ghost-user")
    # ENABLED: an unknown user looks like a real one.
    r = public.resend_confirmation_code(ClientId=server["UserPoolClientId"], Username="ghost-user")
    assert r["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"


def test_admin_create_user_then_new_password_required(server, public, admin):
    name = unique("invite")
    created = admin.admin_create_user(UserPoolId=server["UserPoolId"], Username=name,
                                      UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}])["User"]
    assert created["UserStatus"] == "FORCE_CHANGE_PASSWORD" and created["Enabled"] is True
    invitation = server.outbox_codes(name)[-1]
    assert invitation["kind"] == "invitation" and invitation["code"] in invitation["body"]
    fails("UsernameExistsException", admin.admin_create_user, UserPoolId=server["UserPoolId"], Username=name)
    fails("NotAuthorizedException", signin, server=server, public=public, username=name, password="wrong-Passw0rd!")
    challenge = signin(server, public, name, password=invitation["code"])
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    assert challenge["ChallengeParameters"]["USER_ID_FOR_SRP"] == name
    assert challenge["ChallengeParameters"]["requiredAttributes"] == "[]"
    fails("InvalidPasswordException", public.respond_to_auth_challenge, ClientId=server["UserPoolClientId"],
          ChallengeName="NEW_PASSWORD_REQUIRED", Session=challenge["Session"],
          ChallengeResponses={"USERNAME": name, "NEW_PASSWORD": "weak"})
    done = public.respond_to_auth_challenge(ClientId=server["UserPoolClientId"], ChallengeName="NEW_PASSWORD_REQUIRED",
                                            Session=challenge["Session"],
                                            ChallengeResponses={"USERNAME": name, "NEW_PASSWORD": NEW_PASSWORD})
    assert done["AuthenticationResult"]["RefreshToken"]
    fails("NotAuthorizedException", public.respond_to_auth_challenge, ClientId=server["UserPoolClientId"],
          ChallengeName="NEW_PASSWORD_REQUIRED", Session=challenge["Session"],
          ChallengeResponses={"USERNAME": name, "NEW_PASSWORD": NEW_PASSWORD})
    assert admin.admin_get_user(UserPoolId=server["UserPoolId"], Username=name)["UserStatus"] == "CONFIRMED"


def test_admin_create_user_resend_sends_a_new_temporary_password(server, public, admin, user):
    name = unique("resend-invite")
    admin.admin_create_user(UserPoolId=server["UserPoolId"], Username=name,
                            UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}])
    first = server.outbox_codes(name)[-1]["code"]
    again = admin.admin_create_user(UserPoolId=server["UserPoolId"], Username=name, MessageAction="RESEND")["User"]
    assert again["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    second = server.outbox_codes(name)[-1]["code"]
    assert len(server.outbox_codes(name)) == 2 and second != first
    fails("NotAuthorizedException", signin, server=server, public=public, username=name, password=first)
    assert signin(server, public, name, password=second)["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    fails("UnsupportedUserStateException", admin.admin_create_user, UserPoolId=server["UserPoolId"], Username=user,
          MessageAction="RESEND")
    fails("UserNotFoundException", admin.admin_create_user, UserPoolId=server["UserPoolId"], Username="nobody-x",
          MessageAction="RESEND")


def test_admin_respond_to_auth_challenge_and_admin_flows(server, admin):
    name = unique("admin-flow")
    admin.admin_create_user(UserPoolId=server["UserPoolId"], Username=name, TemporaryPassword="Temp0rary-Pass!",
                            MessageAction="SUPPRESS")
    assert server.outbox_codes(name) == []
    ch = admin.admin_initiate_auth(UserPoolId=server["UserPoolId"], ClientId=server["UserPoolClientId"],
                                   AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": name, "PASSWORD": "Temp0rary-Pass!"})
    assert ch["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    done = admin.admin_respond_to_auth_challenge(UserPoolId=server["UserPoolId"], ClientId=server["UserPoolClientId"],
                                                 ChallengeName="NEW_PASSWORD_REQUIRED", Session=ch["Session"],
                                                 ChallengeResponses={"USERNAME": name, "NEW_PASSWORD": NEW_PASSWORD})
    assert done["AuthenticationResult"]["AccessToken"]
    fails("InvalidParameterException", admin.admin_initiate_auth, UserPoolId=server["UserPoolId"],
          ClientId=server["UserPoolClientId"], AuthFlow="USER_PASSWORD_AUTH",
          AuthParameters={"USERNAME": name, "PASSWORD": NEW_PASSWORD})
    fails("InvalidParameterException", admin.admin_initiate_auth, UserPoolId=server["UserPoolId"],
          ClientId=server["ConfidentialClientId"], AuthFlow="ADMIN_USER_PASSWORD_AUTH",
          AuthParameters={"USERNAME": name, "PASSWORD": NEW_PASSWORD})
    fails("NotAuthorizedException", admin.admin_respond_to_auth_challenge, UserPoolId=server["UserPoolId"],
          ClientId=server["UserPoolClientId"], ChallengeName="NEW_PASSWORD_REQUIRED", Session="x" * 40,
          ChallengeResponses={"USERNAME": name, "NEW_PASSWORD": NEW_PASSWORD})
    # Legacy alias of the admin password flow.
    r = admin.admin_initiate_auth(UserPoolId=server["UserPoolId"], ClientId=server["UserPoolClientId"],
                                  AuthFlow="ADMIN_NO_SRP_AUTH", AuthParameters={"USERNAME": name, "PASSWORD": NEW_PASSWORD})
    assert r["AuthenticationResult"]["IdToken"]


def test_admin_set_user_password_get_user_and_temporary_state(server, public, admin, user):
    admin.admin_set_user_password(UserPoolId=server["UserPoolId"], Username=user, Password=NEW_PASSWORD, Permanent=False)
    assert admin.admin_get_user(UserPoolId=server["UserPoolId"], Username=user)["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    assert signin(server, public, user, NEW_PASSWORD)["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    fails("InvalidPasswordException", admin.admin_set_user_password, UserPoolId=server["UserPoolId"], Username=user,
          Password="weakpassword", Permanent=True)
    fails("UserNotFoundException", admin.admin_set_user_password, UserPoolId=server["UserPoolId"], Username="nobody-x",
          Password=NEW_PASSWORD, Permanent=True)
    got = admin.admin_get_user(UserPoolId=server["UserPoolId"], Username=f"{user}@example.com")
    assert got["Username"] == user, "AdminGetUser resolves an alias"
    fails("UserNotFoundException", admin.admin_get_user, UserPoolId=server["UserPoolId"], Username="nobody-x")


def test_get_user_update_attributes_and_delete_user(server, public, admin, user):
    tokens = signin(server, public, user)["AuthenticationResult"]
    got = public.get_user(AccessToken=tokens["AccessToken"])
    assert got["Username"] == user
    names = [a["Name"] for a in got["UserAttributes"]]
    assert names[0] == "sub" and "email" in names
    public.update_user_attributes(AccessToken=tokens["AccessToken"],
                                  UserAttributes=[{"Name": "name", "Value": "Alice Example"}])
    attrs = {a["Name"]: a["Value"] for a in public.get_user(AccessToken=tokens["AccessToken"])["UserAttributes"]}
    assert attrs["name"] == "Alice Example"
    fails("NotAuthorizedException", public.update_user_attributes, AccessToken=tokens["AccessToken"],
          UserAttributes=[{"Name": "email_verified", "Value": "true"}])
    admin.admin_update_user_attributes(UserPoolId=server["UserPoolId"], Username=user,
                                       UserAttributes=[{"Name": "email", "Value": f"new-{user}@example.com"}])
    attrs = {a["Name"]: a["Value"] for a in admin.admin_get_user(UserPoolId=server["UserPoolId"], Username=user)["UserAttributes"]}
    assert attrs["email"] == f"new-{user}@example.com" and attrs["email_verified"] == "false"
    admin.admin_delete_user_attributes(UserPoolId=server["UserPoolId"], Username=user, UserAttributeNames=["name"])
    attrs = {a["Name"] for a in admin.admin_get_user(UserPoolId=server["UserPoolId"], Username=user)["UserAttributes"]}
    assert "name" not in attrs
    fails("InvalidParameterException", admin.admin_update_user_attributes, UserPoolId=server["UserPoolId"],
          Username=user, UserAttributes=[{"Name": "custom:nope", "Value": "1"}])
    fails("NotAuthorizedException", public.get_user, AccessToken="not.a.token")
    public.delete_user(AccessToken=tokens["AccessToken"])
    fails("UserNotFoundException", admin.admin_get_user, UserPoolId=server["UserPoolId"], Username=user)
    fails("NotAuthorizedException", public.get_user, AccessToken=tokens["AccessToken"])


def test_alias_conflicts_are_refused(server, admin, user):
    other = unique()
    admin.admin_create_user(UserPoolId=server["UserPoolId"], Username=other, MessageAction="SUPPRESS")
    fails("AliasExistsException", admin.admin_update_user_attributes, UserPoolId=server["UserPoolId"], Username=other,
          UserAttributes=[{"Name": "email", "Value": f"{user}@example.com"}, {"Name": "email_verified", "Value": "true"}])


def test_list_users_filters_and_pages(server, admin):
    prefix = unique("lu")
    for i in range(5):
        admin.admin_create_user(UserPoolId=server["UserPoolId"], Username=f"{prefix}-{i}", MessageAction="SUPPRESS",
                                UserAttributes=[{"Name": "email", "Value": f"{prefix}-{i}@example.org"}])
    admin.admin_disable_user(UserPoolId=server["UserPoolId"], Username=f"{prefix}-3")
    page = admin.list_users(UserPoolId=server["UserPoolId"], Filter=f'username ^= "{prefix}"', Limit=2)
    assert [u["Username"] for u in page["Users"]] == [f"{prefix}-0", f"{prefix}-1"]
    everyone = [u["Username"] for p in admin.get_paginator("list_users").paginate(
        UserPoolId=server["UserPoolId"], Filter=f'email ^= "{prefix}"', PaginationConfig={"PageSize": 2}) for u in p["Users"]]
    assert everyone == [f"{prefix}-{i}" for i in range(5)]
    exact = admin.list_users(UserPoolId=server["UserPoolId"], Filter=f'email = "{prefix}-2@example.org"')["Users"]
    assert [u["Username"] for u in exact] == [f"{prefix}-2"]
    disabled = admin.list_users(UserPoolId=server["UserPoolId"], Filter='status = "Disabled"')["Users"]
    assert f"{prefix}-3" in [u["Username"] for u in disabled]
    forced = admin.list_users(UserPoolId=server["UserPoolId"], Filter='cognito:user_status = "force_change_password"')
    assert f"{prefix}-1" in [u["Username"] for u in forced["Users"]]
    only = admin.list_users(UserPoolId=server["UserPoolId"], Filter=f'username = "{prefix}-0"', AttributesToGet=["email"])
    assert only["Users"][0]["Attributes"] == [{"Name": "email", "Value": f"{prefix}-0@example.org"}]
    for bad in ['custom:x = "1"', "email = unquoted", 'shoe ^= "x"']:
        fails("InvalidParameterException", admin.list_users, UserPoolId=server["UserPoolId"], Filter=bad)


def test_disable_enable_and_delete(server, public, admin, user):
    tokens = signin(server, public, user)["AuthenticationResult"]
    bearer = {"Authorization": "Bearer " + tokens["AccessToken"]}
    # Accepted (and so cached as verified) by the gateway before.
    assert requests.get(server["ApiUrl"] + "/hello", headers=bearer, timeout=10).status_code == 200
    admin.admin_disable_user(UserPoolId=server["UserPoolId"], Username=user)
    # The access token is refused at once by the JSON API and the gateway.
    fails("NotAuthorizedException", public.get_user, AccessToken=tokens["AccessToken"])
    refused = requests.get(server["ApiUrl"] + "/hello", headers=bearer, timeout=10)
    assert refused.status_code == 401 and refused.json() == {"message": "Unauthorized"}
    assert fails("NotAuthorizedException", signin, server=server, public=public, username=user) == "User is disabled."
    fails("NotAuthorizedException", public.initiate_auth, AuthFlow="REFRESH_TOKEN_AUTH",
          ClientId=server["UserPoolClientId"], AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
    admin.admin_enable_user(UserPoolId=server["UserPoolId"], Username=user)
    assert signin(server, public, user)["AuthenticationResult"]
    admin.admin_delete_user(UserPoolId=server["UserPoolId"], Username=user)
    fails("UserNotFoundException", admin.admin_delete_user, UserPoolId=server["UserPoolId"], Username=user)
    fails("UserNotFoundException", admin.admin_disable_user, UserPoolId=server["UserPoolId"], Username=user)


def test_forgot_password_and_confirm(server, public, admin, user, legacy_client):
    r = public.forgot_password(ClientId=server["UserPoolClientId"], Username=user)
    assert r["CodeDeliveryDetails"]["AttributeName"] == "email"
    code = server.outbox_codes(user)[-1]
    assert code["kind"] == "forgot_password"
    fails("InvalidPasswordException", public.confirm_forgot_password, ClientId=server["UserPoolClientId"],
          Username=user, ConfirmationCode=code["code"], Password="weak")
    wrong = "000000" if code["code"] != "000000" else "111111"
    fails("CodeMismatchException", public.confirm_forgot_password, ClientId=server["UserPoolClientId"],
          Username=user, ConfirmationCode=wrong, Password=NEW_PASSWORD)
    public.confirm_forgot_password(ClientId=server["UserPoolClientId"], Username=user, ConfirmationCode=code["code"],
                                   Password=NEW_PASSWORD)
    fails("ExpiredCodeException", public.confirm_forgot_password, ClientId=server["UserPoolClientId"],
          Username=user, ConfirmationCode=code["code"], Password=NEW_PASSWORD)
    assert signin(server, public, user, NEW_PASSWORD)["AuthenticationResult"]
    fails("UserNotFoundException", public.forgot_password, ClientId=legacy_client, Username="ghost-user")
    ghost = public.forgot_password(ClientId=server["UserPoolClientId"], Username="ghost-user")
    assert ghost["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"
    unverified = unique()
    admin.admin_create_user(UserPoolId=server["UserPoolId"], Username=unverified, MessageAction="SUPPRESS")
    fails("InvalidParameterException", public.forgot_password, ClientId=server["UserPoolClientId"], Username=unverified)


def test_admin_reset_user_password_requires_a_reset(server, public, admin, user):
    admin.admin_reset_user_password(UserPoolId=server["UserPoolId"], Username=user)
    assert admin.admin_get_user(UserPoolId=server["UserPoolId"], Username=user)["UserStatus"] == "RESET_REQUIRED"
    fails("PasswordResetRequiredException", signin, server=server, public=public, username=user)
    code = server.outbox_codes(user)[-1]["code"]
    public.confirm_forgot_password(ClientId=server["UserPoolClientId"], Username=user, ConfirmationCode=code,
                                   Password=NEW_PASSWORD)
    assert signin(server, public, user, NEW_PASSWORD)["AuthenticationResult"]


def test_change_password(server, public, user):
    tokens = signin(server, public, user)["AuthenticationResult"]
    fails("NotAuthorizedException", public.change_password, AccessToken=tokens["AccessToken"],
          PreviousPassword="wrong-Passw0rd!", ProposedPassword=NEW_PASSWORD)
    fails("InvalidPasswordException", public.change_password, AccessToken=tokens["AccessToken"],
          PreviousPassword=PASSWORD, ProposedPassword="weak")
    public.change_password(AccessToken=tokens["AccessToken"], PreviousPassword=PASSWORD, ProposedPassword=NEW_PASSWORD)
    fails("NotAuthorizedException", signin, server=server, public=public, username=user)
    assert signin(server, public, user, NEW_PASSWORD)["AuthenticationResult"]


def test_sign_in_errors_follow_the_client_existence_setting(server, public, legacy_client, user):
    msg = fails("NotAuthorizedException", signin, server=server, public=public, username="ghost-user")
    assert msg == "Incorrect username or password."
    msg = fails("UserNotFoundException", public.initiate_auth, AuthFlow="USER_PASSWORD_AUTH", ClientId=legacy_client,
                AuthParameters={"USERNAME": "ghost-user", "PASSWORD": PASSWORD})
    assert msg == "User does not exist."
    assert fails("NotAuthorizedException", public.initiate_auth, AuthFlow="USER_PASSWORD_AUTH", ClientId=legacy_client,
                 AuthParameters={"USERNAME": user, "PASSWORD": "wrong-Passw0rd!"}) == "Incorrect username or password."


def test_flows_and_secret_hash_are_enforced(server, public, admin, user):
    refresh_only = admin.create_user_pool_client(UserPoolId=server["UserPoolId"], ClientName="refresh-only",
                                                 ExplicitAuthFlows=["ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
    msg = fails("InvalidParameterException", public.initiate_auth, AuthFlow="USER_PASSWORD_AUTH", ClientId=refresh_only,
                AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD})
    assert msg == "USER_PASSWORD_AUTH flow not enabled for this client"
    fails("InvalidParameterException", public.initiate_auth, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
          ClientId=server["UserPoolClientId"], AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD})
    cid = server["ConfidentialClientId"]
    msg = fails("NotAuthorizedException", public.initiate_auth, AuthFlow="USER_PASSWORD_AUTH", ClientId=cid,
                AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD})
    assert msg == f"Client {cid} is configured for secret but secret was not received"
    msg = fails("NotAuthorizedException", public.initiate_auth, AuthFlow="USER_PASSWORD_AUTH", ClientId=cid,
                AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD, "SECRET_HASH": "d3JvbmcK"})
    assert msg == f"Unable to verify secret hash for client {cid}"
    fails("ResourceNotFoundException", public.initiate_auth, AuthFlow="USER_PASSWORD_AUTH", ClientId="nosuchclient",
          AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD})
    fails("InvalidParameterException", public.initiate_auth, AuthFlow="USER_PASSWORD_AUTH",
          ClientId=server["UserPoolClientId"], AuthParameters={"USERNAME": user})


def test_refresh_with_secret_hash_and_get_tokens_from_refresh_token(server, public, user):
    import base64, hashlib, hmac
    cid, secret = server["ConfidentialClientId"], server["ConfidentialClientSecret"]
    h = lambda name: base64.b64encode(hmac.new(secret.encode(), (name + cid).encode(), hashlib.sha256).digest()).decode()
    tokens = public.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=cid,
                                  AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD, "SECRET_HASH": h(user)})["AuthenticationResult"]
    again = public.initiate_auth(AuthFlow="REFRESH_TOKEN_AUTH", ClientId=cid,
                                 AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"], "SECRET_HASH": h(user)})
    assert again["AuthenticationResult"]["AccessToken"]
    fails("NotAuthorizedException", public.initiate_auth, AuthFlow="REFRESH_TOKEN_AUTH", ClientId=cid,
          AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
    r = public.get_tokens_from_refresh_token(RefreshToken=tokens["RefreshToken"], ClientId=cid, ClientSecret=secret)
    assert r["AuthenticationResult"]["IdToken"] and "RefreshToken" not in r["AuthenticationResult"]
    fails("NotAuthorizedException", public.get_tokens_from_refresh_token, RefreshToken=tokens["RefreshToken"],
          ClientId=cid, ClientSecret="w" * 30)
    # A refresh token works only for the client it was issued to.
    fails("NotAuthorizedException", public.initiate_auth, AuthFlow="REFRESH_TOKEN_AUTH",
          ClientId=server["UserPoolClientId"], AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
    fails("NotAuthorizedException", public.initiate_auth, AuthFlow="REFRESH_TOKEN_AUTH",
          ClientId=server["UserPoolClientId"], AuthParameters={"REFRESH_TOKEN": "garbage"})


def test_refresh_token_rotation_detects_reuse(server, public, admin, user):
    cid = admin.create_user_pool_client(
        UserPoolId=server["UserPoolId"], ClientName="rotating",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        RefreshTokenRotation={"Feature": "ENABLED", "RetryGracePeriodSeconds": 0},
    )["UserPoolClient"]["ClientId"]
    first = public.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=cid,
                                 AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD})["AuthenticationResult"]
    second = public.get_tokens_from_refresh_token(RefreshToken=first["RefreshToken"], ClientId=cid)["AuthenticationResult"]
    assert second["RefreshToken"] != first["RefreshToken"]
    fails("InvalidParameterException", public.initiate_auth, AuthFlow="REFRESH_TOKEN_AUTH", ClientId=cid,
          AuthParameters={"REFRESH_TOKEN": second["RefreshToken"]})
    # At once, no wait: with no grace period any reuse is one.
    fails("RefreshTokenReuseException", public.get_tokens_from_refresh_token, RefreshToken=first["RefreshToken"],
          ClientId=cid)
    # Reuse revoked the whole family, the newer token too.
    fails("NotAuthorizedException", public.get_tokens_from_refresh_token, RefreshToken=second["RefreshToken"],
          ClientId=cid)


@pytest.fixture
def slow_clock(tmp_path):
    """A demo server whose wall clock runs a thousand times slower than
    real time (libfaketime), so a 1 s lockout lasts 1,000 s of the test's
    time: the test cannot be too slow to see it."""
    s = Server(tmp_path / "data", env=faked_clock(faketime="+0 x0.001")).start()
    yield s
    s.stop()


def test_lockout_after_five_failures_refuses_even_the_right_password(slow_clock):
    server, public = slow_clock, slow_clock.client(signed=False)
    user = make_user(server)
    for _ in range(5):
        assert fails("NotAuthorizedException", signin, server=server, public=public, username=user,
                     password="wrong-Passw0rd!") == "Incorrect username or password."
    msg = fails("NotAuthorizedException", signin, server=server, public=public, username=user)
    assert msg == "Password attempts exceeded"


def test_global_sign_out_kills_refresh_and_api_access(server, public, user):
    a = signin(server, public, user)["AuthenticationResult"]
    b = signin(server, public, user)["AuthenticationResult"]
    public.global_sign_out(AccessToken=a["AccessToken"])
    assert fails("NotAuthorizedException", public.get_user, AccessToken=b["AccessToken"]) == "Access Token has been revoked"
    for t in (a, b):
        fails("NotAuthorizedException", public.initiate_auth, AuthFlow="REFRESH_TOKEN_AUTH",
              ClientId=server["UserPoolClientId"], AuthParameters={"REFRESH_TOKEN": t["RefreshToken"]})
    fresh = signin(server, public, user)["AuthenticationResult"]
    assert public.get_user(AccessToken=fresh["AccessToken"])["Username"] == user


def test_admin_user_global_sign_out(server, public, admin, user):
    t = signin(server, public, user)["AuthenticationResult"]
    admin.admin_user_global_sign_out(UserPoolId=server["UserPoolId"], Username=user)
    fails("NotAuthorizedException", public.get_user, AccessToken=t["AccessToken"])
    fails("NotAuthorizedException", public.initiate_auth, AuthFlow="REFRESH_TOKEN_AUTH",
          ClientId=server["UserPoolClientId"], AuthParameters={"REFRESH_TOKEN": t["RefreshToken"]})


def test_revoke_token_kills_that_session_only(server, public, user):
    a = signin(server, public, user)["AuthenticationResult"]
    b = signin(server, public, user)["AuthenticationResult"]
    public.revoke_token(Token=a["RefreshToken"], ClientId=server["UserPoolClientId"])
    fails("NotAuthorizedException", public.get_user, AccessToken=a["AccessToken"])
    fails("NotAuthorizedException", public.initiate_auth, AuthFlow="REFRESH_TOKEN_AUTH",
          ClientId=server["UserPoolClientId"], AuthParameters={"REFRESH_TOKEN": a["RefreshToken"]})
    assert public.get_user(AccessToken=b["AccessToken"])["Username"] == user
    public.revoke_token(Token="unknown-token", ClientId=server["UserPoolClientId"])
    fails("UnsupportedTokenTypeException", public.revoke_token, Token=a["AccessToken"],
          ClientId=server["UserPoolClientId"])
    fails("UnauthorizedException", public.revoke_token, Token=b["RefreshToken"], ClientId=server["ConfidentialClientId"])


def test_one_name_has_one_account_whatever_its_unicode_spelling(server, public, admin):
    base = unique("uni")
    public.sign_up(ClientId=server["UserPoolClientId"], Username=base, Password=PASSWORD)
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in base)
    fails("UsernameExistsException", public.sign_up, ClientId=server["UserPoolClientId"], Username=fullwidth,
          Password=PASSWORD)
    decomposed, composed = f"jose\u0301-{base}", f"jos\u00e9-{base}"
    public.sign_up(ClientId=server["UserPoolClientId"], Username=decomposed, Password=PASSWORD)
    fails("UsernameExistsException", public.sign_up, ClientId=server["UserPoolClientId"], Username=composed,
          Password=PASSWORD)
    admin.admin_confirm_sign_up(UserPoolId=server["UserPoolId"], Username=composed)
    for spelling in (decomposed, composed, composed.upper()):
        assert signin(server, public, spelling)["AuthenticationResult"]["AccessToken"]
    for bad in (f"zero\u200bwidth-{base}", f"rtl\u202eevil-{base}", f"bom\ufeff-{base}"):
        fails("InvalidParameterException", public.sign_up, ClientId=server["UserPoolClientId"], Username=bad,
              Password=PASSWORD)


def test_attribute_verification_by_the_users_own_token(server, admin, public, user):
    """UpdateUserAttributes sends a code for a new email of a pool that
    verifies email; GetUserAttributeVerificationCode sends another;
    VerifyUserAttribute takes it once; DeleteUserAttributes removes."""
    token = public.initiate_auth(ClientId=server["UserPoolClientId"], AuthFlow="USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD})["AuthenticationResult"]["AccessToken"]
    r = public.update_user_attributes(AccessToken=token, UserAttributes=[
        {"Name": "email", "Value": f"{user}@new.example.com"}, {"Name": "nickname", "Value": "zed"}])
    assert [d["AttributeName"] for d in r["CodeDeliveryDetailsList"]] == ["email"]
    attrs = {a["Name"]: a["Value"] for a in public.get_user(AccessToken=token)["UserAttributes"]}
    assert attrs["email"] == f"{user}@new.example.com" and attrs["email_verified"] == "false"
    d = public.get_user_attribute_verification_code(AccessToken=token, AttributeName="email")["CodeDeliveryDetails"]
    assert d["DeliveryMedium"] == "EMAIL" and d["AttributeName"] == "email"
    code = server.outbox_codes(user)[-1]["code"]
    with pytest.raises(public.exceptions.CodeMismatchException):
        public.verify_user_attribute(AccessToken=token, AttributeName="email", Code="000000" if code != "000000" else "111111")
    public.verify_user_attribute(AccessToken=token, AttributeName="email", Code=code)
    attrs = {a["Name"]: a["Value"] for a in public.get_user(AccessToken=token)["UserAttributes"]}
    assert attrs["email_verified"] == "true"
    with pytest.raises(ClientError):
        public.verify_user_attribute(AccessToken=token, AttributeName="email", Code=code)  # used
    with pytest.raises(public.exceptions.InvalidParameterException):
        public.get_user_attribute_verification_code(AccessToken=token, AttributeName="phone_number")
    public.delete_user_attributes(AccessToken=token, UserAttributeNames=["nickname"])
    attrs = {a["Name"]: a["Value"] for a in public.get_user(AccessToken=token)["UserAttributes"]}
    assert "nickname" not in attrs


def test_a_new_email_waits_for_verification_when_the_pool_says_so(server, admin, public):
    pool = admin.create_user_pool(PoolName=unique("hold"), AutoVerifiedAttributes=["email"],
                                  UserAttributeUpdateSettings={"AttributesRequireVerificationBeforeUpdate": ["email"]})["UserPool"]
    assert pool["UserAttributeUpdateSettings"] == {"AttributesRequireVerificationBeforeUpdate": ["email"]}
    client = admin.create_user_pool_client(UserPoolId=pool["Id"], ClientName="app",
                                           ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
    name = unique()
    admin.admin_create_user(UserPoolId=pool["Id"], Username=name, MessageAction="SUPPRESS", UserAttributes=[
        {"Name": "email", "Value": f"{name}@old.example.com"}, {"Name": "email_verified", "Value": "true"}])
    admin.admin_set_user_password(UserPoolId=pool["Id"], Username=name, Password=PASSWORD, Permanent=True)
    token = public.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})["AuthenticationResult"]["AccessToken"]
    r = public.update_user_attributes(AccessToken=token, UserAttributes=[{"Name": "email", "Value": f"{name}@new.example.com"}])
    assert r["CodeDeliveryDetailsList"][0]["AttributeName"] == "email"
    attrs = {a["Name"]: a["Value"] for a in public.get_user(AccessToken=token)["UserAttributes"]}
    assert attrs["email"] == f"{name}@old.example.com" and attrs["email_verified"] == "true"
    message = server.outbox_codes(name)[-1]
    assert message["to"] == f"{name}@new.example.com"
    public.verify_user_attribute(AccessToken=token, AttributeName="email", Code=message["code"])
    attrs = {a["Name"]: a["Value"] for a in public.get_user(AccessToken=token)["UserAttributes"]}
    assert attrs["email"] == f"{name}@new.example.com" and attrs["email_verified"] == "true"
    # Without the setting the change is at once (and unverified).
    admin.update_user_pool(UserPoolId=pool["Id"], AutoVerifiedAttributes=["email"])
    public.update_user_attributes(AccessToken=token, UserAttributes=[{"Name": "email", "Value": f"{name}@third.example.com"}])
    attrs = {a["Name"]: a["Value"] for a in public.get_user(AccessToken=token)["UserAttributes"]}
    assert attrs["email"] == f"{name}@third.example.com" and attrs["email_verified"] == "false"
    with pytest.raises(admin.exceptions.InvalidParameterException):
        admin.update_user_pool(UserPoolId=pool["Id"],
                               UserAttributeUpdateSettings={"AttributesRequireVerificationBeforeUpdate": ["email"]})


@pytest.mark.parametrize("named_by", ["username", "sub", "email"])
def test_secret_hash_in_a_later_step_may_name_the_user_by_username_sub_or_alias(server, public, admin, named_by):
    """NEW_PASSWORD_REQUIRED on the client with a secret: the answer's
    SECRET_HASH may be computed over the username, the sub or the email
    alias (the value sent as USERNAME); one over another name is refused."""
    import base64
    import hashlib
    import hmac
    cid, secret = server["ConfidentialClientId"], server["ConfidentialClientSecret"]

    def h(name):
        return base64.b64encode(hmac.new(secret.encode(), (name + cid).encode(), hashlib.sha256).digest()).decode()

    name = unique("later")
    email = f"{name}@example.com"
    admin.admin_create_user(UserPoolId=server["UserPoolId"], Username=name, MessageAction="SUPPRESS",
                            TemporaryPassword="Temp-passw0rd!",
                            UserAttributes=[{"Name": "email", "Value": email},
                                            {"Name": "email_verified", "Value": "true"}])
    sub = next(a["Value"] for a in admin.admin_get_user(UserPoolId=server["UserPoolId"], Username=name)["UserAttributes"]
               if a["Name"] == "sub")
    start = public.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=cid, AuthParameters={
        "USERNAME": name, "PASSWORD": "Temp-passw0rd!", "SECRET_HASH": h(name)})
    assert start["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    who = {"username": name, "sub": sub, "email": email}[named_by]
    # A hash over another name than the one sent is refused, and the
    # session survives to be answered properly.
    fails("NotAuthorizedException", public.respond_to_auth_challenge, ClientId=cid,
          ChallengeName="NEW_PASSWORD_REQUIRED", Session=start["Session"],
          ChallengeResponses={"USERNAME": who, "NEW_PASSWORD": PASSWORD, "SECRET_HASH": h(who + "x")})
    done = public.respond_to_auth_challenge(ClientId=cid, ChallengeName="NEW_PASSWORD_REQUIRED", Session=start["Session"],
                                            ChallengeResponses={"USERNAME": who, "NEW_PASSWORD": PASSWORD,
                                                                "SECRET_HASH": h(who)})
    assert done["AuthenticationResult"]["AccessToken"]
