"""Software-token (TOTP) MFA: pycognito's helpers and boto3 through
enrolment, MFA_SETUP and SOFTWARE_TOKEN_MFA, with pyotp as the
authenticator app."""

import time

import pyotp
import pytest
from botocore.exceptions import ClientError
from pycognito import Cognito
from pycognito.exceptions import SoftwareTokenMFAChallengeException

from conftest import PASSWORD, error_type, unique


@pytest.fixture(scope="module")
def mfa_pool(admin):
    """Pools with MFA OPTIONAL and ON, each with a client for SRP and passwords."""
    pools = {}
    for mode in ("OPTIONAL", "ON"):
        pid = admin.create_user_pool(PoolName=f"mfa-{mode.lower()}", MfaConfiguration=mode)["UserPool"]["Id"]
        cid = admin.create_user_pool_client(
            UserPoolId=pid, ClientName="app",
            ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
        pools[mode] = (pid, cid)
    return pools


def new_user(admin, pid):
    name = unique("mfa")
    admin.admin_create_user(UserPoolId=pid, Username=name, MessageAction="SUPPRESS")
    admin.admin_set_user_password(UserPoolId=pid, Username=name, Password=PASSWORD, Permanent=True)
    return name


def py(server, pid, cid, name):
    return Cognito(pid, cid, username=name, boto3_client_kwargs={
        "endpoint_url": server["CognitoEndpoint"], "aws_access_key_id": "AKIAUNUSED0000000000",
        "aws_secret_access_key": "unused" * 5})


def next_code(secret):
    """A code valid now that was not used yet: the next step's (inside the window)."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def test_pycognito_enrols_totp_and_signs_in_with_it(server, admin, mfa_pool):
    pid, cid = mfa_pool["OPTIONAL"]
    name = new_user(admin, pid)
    u = py(server, pid, cid, name)
    u.authenticate(password=PASSWORD)  # OPTIONAL and not enrolled: no challenge
    secret = u.associate_software_token()
    assert len(secret) == 32 and secret.isalnum()
    assert u.verify_software_token(pyotp.TOTP(secret).now()) is True
    u.set_user_mfa_preference(sms_mfa=False, software_token_mfa=True, preferred="SOFTWARE_TOKEN")
    got = admin.admin_get_user(UserPoolId=pid, Username=name)
    assert got["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"] and got["PreferredMfaSetting"] == "SOFTWARE_TOKEN_MFA"

    again = py(server, pid, cid, name)
    with pytest.raises(SoftwareTokenMFAChallengeException):
        again.authenticate(password=PASSWORD)
    with pytest.raises(ClientError) as e:
        again.respond_to_software_token_mfa_challenge("000000" if next_code(secret) != "000000" else "111111")
    assert error_type(e) == "CodeMismatchException"
    code = next_code(secret)
    again.respond_to_software_token_mfa_challenge(code)  # the session survived the wrong code
    assert again.access_token and again.id_token

    # The same code cannot be used twice.
    third = py(server, pid, cid, name)
    with pytest.raises(SoftwareTokenMFAChallengeException):
        third.authenticate(password=PASSWORD)
    with pytest.raises(ClientError) as e:
        third.respond_to_software_token_mfa_challenge(code)
    assert error_type(e) == "CodeMismatchException"


def test_mfa_on_pool_requires_setup_at_first_sign_in(server, admin, mfa_pool):
    pid, cid = mfa_pool["ON"]
    public = server.client(signed=False)
    name = new_user(admin, pid)
    r = public.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=cid,
                             AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})
    assert r["ChallengeName"] == "MFA_SETUP"
    assert r["ChallengeParameters"]["MFAS_CAN_SETUP"] == '["SOFTWARE_TOKEN_MFA"]'
    with pytest.raises(ClientError) as e:
        public.respond_to_auth_challenge(ClientId=cid, ChallengeName="MFA_SETUP", Session=r["Session"],
                                         ChallengeResponses={"USERNAME": name})
    assert error_type(e) == "InvalidParameterException"
    assoc = public.associate_software_token(Session=r["Session"])
    with pytest.raises(ClientError) as e:
        public.verify_software_token(Session=assoc["Session"], UserCode="000000"
                                     if pyotp.TOTP(assoc["SecretCode"]).now() != "000000" else "111111")
    assert error_type(e) == "EnableSoftwareTokenMFAException"
    verified = public.verify_software_token(Session=assoc["Session"], UserCode=pyotp.TOTP(assoc["SecretCode"]).now())
    assert verified["Status"] == "SUCCESS"
    done = public.respond_to_auth_challenge(ClientId=cid, ChallengeName="MFA_SETUP", Session=verified["Session"],
                                            ChallengeResponses={"USERNAME": name})
    assert done["AuthenticationResult"]["AccessToken"]
    later = public.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=cid,
                                 AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})
    assert later["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    ok = public.respond_to_auth_challenge(
        ClientId=cid, ChallengeName="SOFTWARE_TOKEN_MFA", Session=later["Session"],
        ChallengeResponses={"USERNAME": name, "SOFTWARE_TOKEN_MFA_CODE": next_code(assoc["SecretCode"])})
    assert ok["AuthenticationResult"]["IdToken"]
    with pytest.raises(ClientError) as e:
        public.set_user_mfa_preference(AccessToken=ok["AuthenticationResult"]["AccessToken"],
                                       SoftwareTokenMfaSettings={"Enabled": False, "PreferredMfa": False})
    assert error_type(e) == "InvalidParameterException", "MFA ON cannot be turned off per user"


def test_wrong_mfa_codes_count_toward_lockout(server, admin, mfa_pool):
    pid, cid = mfa_pool["ON"]
    public = server.client(signed=False)
    name = new_user(admin, pid)
    r = public.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=cid,
                             AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})
    assoc = public.associate_software_token(Session=r["Session"])
    v = public.verify_software_token(Session=assoc["Session"], UserCode=pyotp.TOTP(assoc["SecretCode"]).now())
    public.respond_to_auth_challenge(ClientId=cid, ChallengeName="MFA_SETUP", Session=v["Session"],
                                     ChallengeResponses={"USERNAME": name})
    later = public.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=cid,
                                 AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})
    good = {pyotp.TOTP(assoc["SecretCode"]).at(time.time() + d) for d in (-30, 0, 30)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in good)
    for _ in range(5):
        with pytest.raises(ClientError) as e:
            public.respond_to_auth_challenge(ClientId=cid, ChallengeName="SOFTWARE_TOKEN_MFA", Session=later["Session"],
                                             ChallengeResponses={"USERNAME": name, "SOFTWARE_TOKEN_MFA_CODE": wrong})
        assert error_type(e) == "CodeMismatchException"
    with pytest.raises(ClientError) as e:
        public.respond_to_auth_challenge(
            ClientId=cid, ChallengeName="SOFTWARE_TOKEN_MFA", Session=later["Session"],
            ChallengeResponses={"USERNAME": name, "SOFTWARE_TOKEN_MFA_CODE": next_code(assoc["SecretCode"])})
    assert e.value.response["Error"]["Message"] == "Password attempts exceeded"


def test_mfa_preferences_and_pool_config(server, admin, mfa_pool, user):
    public = server.client(signed=False)
    tokens = public.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=server["UserPoolClientId"],
                                  AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD})["AuthenticationResult"]
    with pytest.raises(ClientError) as e:
        public.set_user_mfa_preference(AccessToken=tokens["AccessToken"],
                                       SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})
    assert error_type(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        public.set_user_mfa_preference(AccessToken=tokens["AccessToken"], SMSMfaSettings={"Enabled": True})
    assert error_type(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        public.verify_software_token(AccessToken=tokens["AccessToken"], UserCode="123456")
    assert error_type(e) == "SoftwareTokenMFANotFoundException"
    pid, _ = mfa_pool["OPTIONAL"]
    assert admin.get_user_pool_mfa_config(UserPoolId=pid)["MfaConfiguration"] == "OPTIONAL"
    scratch = admin.create_user_pool(PoolName="mfa-config")["UserPool"]["Id"]
    r = admin.set_user_pool_mfa_config(UserPoolId=scratch, MfaConfiguration="ON",
                                       SoftwareTokenMfaConfiguration={"Enabled": True})
    assert r["MfaConfiguration"] == "ON" and r["SoftwareTokenMfaConfiguration"] == {"Enabled": True}
    assert admin.describe_user_pool(UserPoolId=scratch)["UserPool"]["MfaConfiguration"] == "ON"
    # Admins can turn a verified token on for a user.
    pid, cid = mfa_pool["OPTIONAL"]
    name = new_user(admin, pid)
    at = public.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=cid,
                              AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})["AuthenticationResult"]["AccessToken"]
    secret = public.associate_software_token(AccessToken=at)["SecretCode"]
    public.verify_software_token(AccessToken=at, UserCode=pyotp.TOTP(secret).now())
    admin.admin_set_user_mfa_preference(UserPoolId=pid, Username=name,
                                        SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})
    r = public.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=cid,
                             AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})
    assert r["ChallengeName"] == "SOFTWARE_TOKEN_MFA"


def test_email_otp_as_second_factor(server, admin, mfa_pool):
    pid, cid = mfa_pool["OPTIONAL"]
    public = server.client(signed=False)
    name = unique("otp")
    admin.admin_create_user(UserPoolId=pid, Username=name, MessageAction="SUPPRESS", UserAttributes=[
        {"Name": "email", "Value": f"{name}@example.com"}, {"Name": "email_verified", "Value": "true"}])
    admin.admin_set_user_password(UserPoolId=pid, Username=name, Password=PASSWORD, Permanent=True)
    signin = lambda: public.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=cid,
                                          AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})
    at = signin()["AuthenticationResult"]["AccessToken"]
    public.set_user_mfa_preference(AccessToken=at, EmailMfaSettings={"Enabled": True, "PreferredMfa": True})
    assert public.get_user(AccessToken=at)["UserMFASettingList"] == ["EMAIL_OTP"]
    r = signin()
    assert r["ChallengeName"] == "EMAIL_OTP"
    assert r["ChallengeParameters"]["CODE_DELIVERY_DELIVERY_MEDIUM"] == "EMAIL"
    assert r["ChallengeParameters"]["CODE_DELIVERY_DESTINATION"] == f"{name[0]}***@e***"
    message = server.outbox_codes(name)[-1]
    assert message["kind"] == "email_otp" and message["code"] in message["body"]
    wrong = "000000" if message["code"] != "000000" else "111111"
    with pytest.raises(ClientError) as e:
        public.respond_to_auth_challenge(ClientId=cid, ChallengeName="EMAIL_OTP", Session=r["Session"],
                                         ChallengeResponses={"USERNAME": name, "EMAIL_OTP_CODE": wrong})
    assert error_type(e) == "CodeMismatchException"
    ok = public.respond_to_auth_challenge(ClientId=cid, ChallengeName="EMAIL_OTP", Session=r["Session"],
                                         ChallengeResponses={"USERNAME": name, "EMAIL_OTP_CODE": message["code"]})
    assert ok["AuthenticationResult"]["AccessToken"]
    # The code was for that sign-in only.
    again = signin()
    assert [m["kind"] for m in server.outbox_codes(name)] == ["email_otp", "email_otp"], "each sign-in sends its own code"
    with pytest.raises(ClientError) as e:
        public.respond_to_auth_challenge(ClientId=cid, ChallengeName="EMAIL_OTP", Session=r["Session"],
                                         ChallengeResponses={"USERNAME": name, "EMAIL_OTP_CODE": message["code"]})
    assert error_type(e) == "NotAuthorizedException"
    fresh = server.outbox_codes(name)[-1]["code"]
    done = public.respond_to_auth_challenge(ClientId=cid, ChallengeName="EMAIL_OTP", Session=again["Session"],
                                           ChallengeResponses={"USERNAME": name, "EMAIL_OTP_CODE": fresh})
    assert done["AuthenticationResult"]["IdToken"]
    # Without a verified email, EMAIL_OTP cannot be turned on.
    plain = new_user(admin, pid)
    pat = public.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=cid,
                               AuthParameters={"USERNAME": plain, "PASSWORD": PASSWORD})["AuthenticationResult"]["AccessToken"]
    with pytest.raises(ClientError) as e:
        public.set_user_mfa_preference(AccessToken=pat, EmailMfaSettings={"Enabled": True})
    assert error_type(e) == "InvalidParameterException"


def test_admin_flows_answer_the_mfa_challenges(server, admin, mfa_pool):
    """AdminInitiateAuth + AdminRespondToAuthChallenge with
    SOFTWARE_TOKEN_MFA (an enrolled user) and MFA_SETUP (a pool with MFA ON
    and a user without a factor)."""
    pid, _ = mfa_pool["OPTIONAL"]
    cid = admin.create_user_pool_client(UserPoolId=pid, ClientName=unique("admin-app"), ExplicitAuthFlows=[
        "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
    name = new_user(admin, pid)
    u = py(server, pid, mfa_pool["OPTIONAL"][1], name)
    u.authenticate(password=PASSWORD)
    secret = u.associate_software_token()
    assert u.verify_software_token(pyotp.TOTP(secret).now()) is True
    u.set_user_mfa_preference(sms_mfa=False, software_token_mfa=True, preferred="SOFTWARE_TOKEN")
    start = admin.admin_initiate_auth(UserPoolId=pid, ClientId=cid, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                      AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})
    assert start["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    with pytest.raises(ClientError) as e:
        admin.admin_respond_to_auth_challenge(
            UserPoolId=pid, ClientId=cid, ChallengeName="SOFTWARE_TOKEN_MFA", Session=start["Session"],
            ChallengeResponses={"USERNAME": name,
                                "SOFTWARE_TOKEN_MFA_CODE": "000000" if next_code(secret) != "000000" else "111111"})
    assert error_type(e) == "CodeMismatchException"
    done = admin.admin_respond_to_auth_challenge(
        UserPoolId=pid, ClientId=cid, ChallengeName="SOFTWARE_TOKEN_MFA", Session=start["Session"],
        ChallengeResponses={"USERNAME": name, "SOFTWARE_TOKEN_MFA_CODE": next_code(secret)})
    assert done["AuthenticationResult"]["AccessToken"]

    pid, _ = mfa_pool["ON"]
    cid = admin.create_user_pool_client(UserPoolId=pid, ClientName=unique("admin-app"), ExplicitAuthFlows=[
        "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
    name = new_user(admin, pid)
    start = admin.admin_initiate_auth(UserPoolId=pid, ClientId=cid, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                      AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})
    assert start["ChallengeName"] == "MFA_SETUP"
    public = server.client(signed=False)
    assoc = public.associate_software_token(Session=start["Session"])
    verified = public.verify_software_token(Session=assoc["Session"],
                                            UserCode=pyotp.TOTP(assoc["SecretCode"]).now())
    assert verified["Status"] == "SUCCESS"
    done = admin.admin_respond_to_auth_challenge(UserPoolId=pid, ClientId=cid, ChallengeName="MFA_SETUP",
                                                 Session=verified["Session"], ChallengeResponses={"USERNAME": name})
    assert done["AuthenticationResult"]["AccessToken"]
    assert admin.admin_get_user(UserPoolId=pid, Username=name)["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"]
