"""USER_SRP_AUTH with the SDKs that default to it: pycognito and
amazon-cognito-identity-js, unchanged; and SRP's failure rows of
reference/security.md §2.3 (L12, L13)."""

import json
import subprocess

import jwt
import pytest
from botocore.exceptions import ClientError
from pycognito import Cognito
from pycognito.aws_srp import AWSSRP, N_HEX

from conftest import PASSWORD, ROOT, error_type, unique

JS = ROOT / "tests" / "js"


def cognito(server, username, client_id=None, client_secret=None):
    return Cognito(
        server["UserPoolId"], client_id or server["UserPoolClientId"], username=username, client_secret=client_secret,
        boto3_client_kwargs={"endpoint_url": server["CognitoEndpoint"], "aws_access_key_id": "AKIAUNUSED0000000000",
                             "aws_secret_access_key": "unused" * 5},
    )


def srp(server, public, username, password=PASSWORD, client_id=None):
    return AWSSRP(username=username, password=password, pool_id=server["UserPoolId"],
                  client_id=client_id or server["UserPoolClientId"], client=public)


def start(server, public, aws, client_id=None):
    params = aws.get_auth_params()
    response = public.initiate_auth(AuthFlow="USER_SRP_AUTH", AuthParameters=params,
                                    ClientId=client_id or server["UserPoolClientId"])
    return params, response


def test_pycognito_authenticates_by_srp_and_verifies_the_tokens(server, user):
    u = cognito(server, user)
    u.authenticate(password=PASSWORD)
    u.verify_tokens()  # issuer = endpoint/poolId, JWKS from there, at_hash/aud/exp checks
    assert u.id_claims["cognito:username"] == user
    assert u.access_claims["scope"] == "aws.cognito.signin.user.admin"
    assert u.get_user().username == user
    u.renew_access_token()  # REFRESH_TOKEN_AUTH
    assert jwt.decode(u.access_token, options={"verify_signature": False})["username"] == user


def test_pycognito_srp_with_a_client_secret(server, admin, user):
    c = admin.create_user_pool_client(UserPoolId=server["UserPoolId"], ClientName="srp-secret", GenerateSecret=True,
                                      ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]
    u = cognito(server, user, c["ClientId"], c["ClientSecret"])
    u.authenticate(password=PASSWORD)
    assert jwt.decode(u.id_token, options={"verify_signature": False})["aud"] == c["ClientId"]
    wrong = cognito(server, user, c["ClientId"], "x" * 51)
    with pytest.raises(ClientError) as e:
        wrong.authenticate(password=PASSWORD)
    assert error_type(e) == "NotAuthorizedException"


def test_pycognito_signs_in_with_the_verified_email_alias(server, user):
    u = cognito(server, f"{user}@example.com")
    u.authenticate(password=PASSWORD)
    assert u.id_claims["cognito:username"] == user


def test_wrong_password_by_srp_fails_and_counts_toward_lockout(server, public, user):
    for _ in range(5):
        with pytest.raises(ClientError) as e:
            srp(server, public, user, password="Wrong-Passw0rd!").authenticate_user()
        assert error_type(e) == "NotAuthorizedException"
        assert e.value.response["Error"]["Message"] == "Incorrect username or password."
    with pytest.raises(ClientError) as e:
        srp(server, public, user).authenticate_user()
    assert e.value.response["Error"]["Message"] == "Password attempts exceeded"


def test_a_secret_block_cannot_be_replayed(server, public, user):
    aws = srp(server, public, user)
    params, response = start(server, public, aws)
    assert response["ChallengeName"] == "PASSWORD_VERIFIER"
    cp = response["ChallengeParameters"]
    assert set(cp) == {"SALT", "SRP_B", "SECRET_BLOCK", "USERNAME", "USER_ID_FOR_SRP"}
    assert cp["USER_ID_FOR_SRP"] == user
    answer = aws.process_challenge(cp, params)
    ok = public.respond_to_auth_challenge(ClientId=server["UserPoolClientId"], ChallengeName="PASSWORD_VERIFIER",
                                          ChallengeResponses=answer)
    assert ok["AuthenticationResult"]["AccessToken"]
    with pytest.raises(ClientError) as e:
        public.respond_to_auth_challenge(ClientId=server["UserPoolClientId"], ChallengeName="PASSWORD_VERIFIER",
                                         ChallengeResponses=answer)
    assert error_type(e) == "NotAuthorizedException"
    assert "session is expired" in e.value.response["Error"]["Message"]


def test_a_challenge_of_one_user_cannot_sign_in_another(server, public, user, admin):
    other = unique()
    admin.admin_create_user(UserPoolId=server["UserPoolId"], Username=other, MessageAction="SUPPRESS")
    admin.admin_set_user_password(UserPoolId=server["UserPoolId"], Username=other, Password=PASSWORD, Permanent=True)
    aws = srp(server, public, user)
    params, response = start(server, public, aws)
    answer = aws.process_challenge(response["ChallengeParameters"], params)
    answer["USERNAME"] = other
    with pytest.raises(ClientError) as e:
        public.respond_to_auth_challenge(ClientId=server["UserPoolClientId"], ChallengeName="PASSWORD_VERIFIER",
                                         ChallengeResponses=answer)
    assert error_type(e) == "NotAuthorizedException"


def test_public_values_that_are_multiples_of_n_are_refused(server, public, user):
    n = int(N_HEX, 16)
    for bad in ["0", format(n, "x"), format(2 * n, "x"), "not-hex"]:
        with pytest.raises(ClientError) as e:
            public.initiate_auth(AuthFlow="USER_SRP_AUTH", ClientId=server["UserPoolClientId"],
                                 AuthParameters={"USERNAME": user, "SRP_A": bad})
        assert error_type(e) == "NotAuthorizedException", bad


def test_stale_timestamp_is_refused(server, public, user, monkeypatch):
    """The client signs a block whose TIMESTAMP is ten minutes old: the
    signature is right, only the age refuses it (a two-minute-old one is
    taken, so the refusal is the 5-minute rule, not the signature)."""
    import datetime as real_datetime

    import pycognito.aws_srp as aws_srp

    def signed_at(age):
        class Clock(real_datetime.datetime):
            @classmethod
            def utcnow(cls):
                return real_datetime.datetime.utcnow() - age

        monkeypatch.setattr(aws_srp, "datetime", type("m", (), {"datetime": Clock}))
        aws = srp(server, public, user)
        params, response = start(server, public, aws)
        answer = aws.process_challenge(response["ChallengeParameters"], params)
        monkeypatch.undo()
        return answer

    fresh = signed_at(real_datetime.timedelta(minutes=2))
    ok = public.respond_to_auth_challenge(ClientId=server["UserPoolClientId"], ChallengeName="PASSWORD_VERIFIER",
                                          ChallengeResponses=fresh)
    assert "AccessToken" in ok["AuthenticationResult"]
    stale = signed_at(real_datetime.timedelta(minutes=10))
    with pytest.raises(ClientError) as e:
        public.respond_to_auth_challenge(ClientId=server["UserPoolClientId"], ChallengeName="PASSWORD_VERIFIER",
                                         ChallengeResponses=stale)
    assert error_type(e) == "NotAuthorizedException"


def test_unknown_users_get_a_stable_fake_challenge_or_user_not_found(server, public, admin):
    fake = {}
    for _ in range(2):
        aws = srp(server, public, "ghost-srp-user")
        params, response = start(server, public, aws)
        fake.setdefault("salt", set()).add(response["ChallengeParameters"]["SALT"])
        fake.setdefault("id", set()).add(response["ChallengeParameters"]["USER_ID_FOR_SRP"])
        answer = aws.process_challenge(response["ChallengeParameters"], params)
        with pytest.raises(ClientError) as e:
            public.respond_to_auth_challenge(ClientId=server["UserPoolClientId"], ChallengeName="PASSWORD_VERIFIER",
                                             ChallengeResponses=answer)
        assert e.value.response["Error"]["Message"] == "Incorrect username or password."
    assert len(fake["salt"]) == 1 and len(fake["id"]) == 1, "the same answers for the same name"
    legacy = admin.create_user_pool_client(UserPoolId=server["UserPoolId"], ClientName="srp-legacy",
                                           ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH"])["UserPoolClient"]["ClientId"]
    with pytest.raises(ClientError) as e:
        start(server, public, srp(server, public, "ghost-srp-user", client_id=legacy), client_id=legacy)
    assert error_type(e) == "UserNotFoundException"


def test_srp_then_new_password_required_for_a_temporary_password(server, admin):
    name = unique("srp-temp")
    admin.admin_create_user(UserPoolId=server["UserPoolId"], Username=name, TemporaryPassword="Temp0rary-Pass!",
                            MessageAction="SUPPRESS")
    u = cognito(server, name)
    u.new_password_challenge(password="Temp0rary-Pass!", new_password="N3w-Passw0rd!")
    assert u.access_token
    cognito(server, name).authenticate(password="N3w-Passw0rd!")


def test_srp_flow_must_be_enabled_for_the_client(server, public, admin, user):
    no_srp = admin.create_user_pool_client(UserPoolId=server["UserPoolId"], ClientName="no-srp",
                                           ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])["UserPoolClient"]["ClientId"]
    with pytest.raises(ClientError) as e:
        start(server, public, srp(server, public, user, client_id=no_srp), client_id=no_srp)
    assert error_type(e) == "InvalidParameterException"
    assert e.value.response["Error"]["Message"] == "USER_SRP_AUTH flow not enabled for this client"


def test_amazon_cognito_identity_js_signs_in_by_srp_and_refreshes(server, user):
    payload = {"endpoint": server["CognitoEndpoint"] + "/", "userPoolId": server["UserPoolId"],
               "clientId": server["UserPoolClientId"], "username": user, "password": PASSWORD}
    out = subprocess.run(["node", str(JS / "srp-identity-js.mjs")], input=json.dumps(payload), capture_output=True,
                         text=True, timeout=60, cwd=JS)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ok"], result
    assert jwt.decode(result["idToken"], options={"verify_signature": False})["cognito:username"] == user
    assert jwt.decode(result["refreshedAccessToken"], options={"verify_signature": False})["username"] == user
    wrong = subprocess.run(["node", str(JS / "srp-identity-js.mjs")], input=json.dumps({**payload, "password": "Nope-1234!"}),
                           capture_output=True, text=True, timeout=60, cwd=JS)
    assert json.loads(wrong.stdout)["error"].startswith("NotAuthorizedException")


def test_amazon_cognito_identity_js_signs_in_by_srp_with_a_client_secret_and_refreshes(server, admin, user):
    """The library, unchanged, with the app adding SECRET_HASH at the
    pool's request hook (the library has no secret support of its own)."""
    created = admin.create_user_pool_client(
        UserPoolId=server["UserPoolId"], ClientName="srp-secret", GenerateSecret=True,
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]
    payload = {"endpoint": server["CognitoEndpoint"] + "/", "userPoolId": server["UserPoolId"],
               "clientId": created["ClientId"], "clientSecret": created["ClientSecret"],
               "username": user, "password": PASSWORD}
    out = subprocess.run(["node", str(JS / "srp-identity-js.mjs")], input=json.dumps(payload), capture_output=True,
                         text=True, timeout=60, cwd=JS)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ok"], result
    access = jwt.decode(result["accessToken"], options={"verify_signature": False})
    assert access["username"] == user and access["client_id"] == created["ClientId"]
    assert jwt.decode(result["refreshedAccessToken"], options={"verify_signature": False})["username"] == user
    # Without the hash the same client refuses the sign-in.
    no_hash = subprocess.run(["node", str(JS / "srp-identity-js.mjs")],
                             input=json.dumps({**payload, "clientSecret": None}), capture_output=True,
                             text=True, timeout=60, cwd=JS)
    error = json.loads(no_hash.stdout)["error"]
    assert error == f"NotAuthorizedException: Client {created['ClientId']} is configured for secret but secret was not received"


def test_admin_initiate_auth_with_srp_and_refresh(server, admin, user):
    """AdminInitiateAuth USER_SRP_AUTH answered by AdminRespondToAuthChallenge
    PASSWORD_VERIFIER (pycognito's SRP maths, the admin API), then
    AdminInitiateAuth REFRESH_TOKEN_AUTH with the refresh token it gave."""
    aws = AWSSRP(username=user, password=PASSWORD, pool_id=server["UserPoolId"],
                 client_id=server["UserPoolClientId"], client=admin)
    params = aws.get_auth_params()
    challenge = admin.admin_initiate_auth(UserPoolId=server["UserPoolId"], ClientId=server["UserPoolClientId"],
                                          AuthFlow="USER_SRP_AUTH", AuthParameters=params)
    assert challenge["ChallengeName"] == "PASSWORD_VERIFIER"
    answer = aws.process_challenge(challenge["ChallengeParameters"], params)
    done = admin.admin_respond_to_auth_challenge(
        UserPoolId=server["UserPoolId"], ClientId=server["UserPoolClientId"], ChallengeName="PASSWORD_VERIFIER",
        ChallengeResponses=answer)["AuthenticationResult"]
    assert done["AccessToken"] and done["RefreshToken"]
    refreshed = admin.admin_initiate_auth(UserPoolId=server["UserPoolId"], ClientId=server["UserPoolClientId"],
                                          AuthFlow="REFRESH_TOKEN_AUTH",
                                          AuthParameters={"REFRESH_TOKEN": done["RefreshToken"]})["AuthenticationResult"]
    assert refreshed["AccessToken"] != done["AccessToken"] and "RefreshToken" not in refreshed
    # A wrong password's proof is refused by the admin API too.
    wrong = AWSSRP(username=user, password=PASSWORD + "x", pool_id=server["UserPoolId"],
                   client_id=server["UserPoolClientId"], client=admin)
    params = wrong.get_auth_params()
    challenge = admin.admin_initiate_auth(UserPoolId=server["UserPoolId"], ClientId=server["UserPoolClientId"],
                                          AuthFlow="USER_SRP_AUTH", AuthParameters=params)
    with pytest.raises(ClientError) as e:
        admin.admin_respond_to_auth_challenge(
            UserPoolId=server["UserPoolId"], ClientId=server["UserPoolClientId"], ChallengeName="PASSWORD_VERIFIER",
            ChallengeResponses=wrong.process_challenge(challenge["ChallengeParameters"], params))
    assert error_type(e) == "NotAuthorizedException"


def test_a_user_stored_without_a_verifier_gets_one_at_the_next_password_sign_in(fresh_server):
    """Users stored before SRP existed (no salt, no verifier) cannot prove
    a password by SRP; the next USER_PASSWORD_AUTH sign-in writes the
    verifier, and SRP works from then on."""
    import sqlite3

    from conftest import make_user
    s = fresh_server
    name = make_user(s)
    cognito(s, name).authenticate(password=PASSWORD)
    db = sqlite3.connect(str(s.data_dir / "cognate.db"), timeout=10, isolation_level=None)
    try:
        db.execute("UPDATE users SET srp_salt = NULL, srp_verifier = NULL WHERE username = ?", (name,))
    finally:
        db.close()
    with pytest.raises(ClientError) as e:
        cognito(s, name).authenticate(password=PASSWORD)
    assert error_type(e) == "NotAuthorizedException"
    public = s.client(signed=False)
    public.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=s["UserPoolClientId"],
                         AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})
    db = sqlite3.connect(str(s.data_dir / "cognate.db"), timeout=10)
    try:
        (verifier,) = db.execute("SELECT srp_verifier FROM users WHERE username = ?", (name,)).fetchone()
    finally:
        db.close()
    assert verifier
    u = cognito(s, name)
    u.authenticate(password=PASSWORD)
    assert u.access_token
