"""The social provider types against a local stand-in reached through the
overridable endpoints (issue 14, done-when 2), each with its protocol's
details; the failures a provider or an attacker can cause; linking and
disabling provider identities (AdminLinkProviderForUser,
AdminDisableProviderForUser). The browser is played by requests: every
redirect is followed by hand, so each leg is checked."""

import html
import re
import urllib.parse

import jwt
import pytest
import requests

from conftest import PASSWORD, make_user, unique
from idp_standin import StandIn
from test_federation import Landing

SCOPES = "openid email profile"


@pytest.fixture(scope="module")
def landing():
    page = Landing()
    yield page
    page.close()


def provider(admin, server, kind, name=None, mapping=None, scopes=SCOPES):
    stand = StandIn(kind)
    name = name or kind
    admin.create_identity_provider(UserPoolId=server["UserPoolId"], ProviderName=name, ProviderType=kind,
                                   ProviderDetails=stand.details(scopes), AttributeMapping=mapping or {})
    stand.name = name
    return stand


def app_client(admin, server, names, landing):
    return admin.create_user_pool_client(
        UserPoolId=server["UserPoolId"], ClientName=unique("social"), AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid", "email", "profile"],
        CallbackURLs=[landing.url], SupportedIdentityProviders=names,
    )["UserPoolClient"]["ClientId"]


class Flow:
    """One browser's federated sign-in, leg by leg."""

    def __init__(self, server, stand, client_id, landing, hosted=None):
        self.server, self.stand, self.client_id, self.landing = server, stand, client_id, landing
        self.hosted = hosted or server["HostedUiUrl"]
        self.browser = requests.Session()

    def start(self):
        q = {"client_id": self.client_id, "response_type": "code", "redirect_uri": self.landing.url,
             "identity_provider": self.stand.name, "state": "app-state", "scope": SCOPES}
        r = self.browser.get(self.hosted + "/oauth2/authorize?" + urllib.parse.urlencode(q),
                             allow_redirects=False, timeout=10)
        assert r.status_code == 302, r.text
        self.to_provider = r.headers["Location"]
        return self.to_provider

    def at_provider(self):
        """The provider's answer: the callback URL (GET), or Apple's form."""
        r = self.browser.get(self.to_provider, allow_redirects=False, timeout=10)
        if r.status_code == 302:
            return r.headers["Location"], None
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', r.text))
        action = re.search(r'action="([^"]+)"', r.text).group(1)
        return action, {k: html.unescape(v) for k, v in fields.items()}

    def back(self, callback, form=None):
        """Back at cognate: its answer (a redirect to the app, or a page)."""
        if form is not None:
            r = self.browser.post(callback, data=form, allow_redirects=False, timeout=10)
            assert r.status_code == 303
            callback = urllib.parse.urljoin(callback, r.headers["Location"])
        return self.browser.get(callback, allow_redirects=False, timeout=10)

    def run(self):
        self.start()
        callback, form = self.at_provider()
        return self.back(callback, form)

    def tokens(self, answer):
        assert answer.status_code == 302, answer.text
        to = answer.headers["Location"]
        assert to.startswith(self.landing.url), to
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(to).query))
        assert q.get("state") == "app-state"
        assert "code" in q, q
        t = requests.post(self.hosted + "/oauth2/token", timeout=10, data={
            "grant_type": "authorization_code", "code": q["code"], "client_id": self.client_id,
            "redirect_uri": self.landing.url})
        assert t.status_code == 200, t.text
        return jwt.decode(t.json()["id_token"], options={"verify_signature": False})


def app_error(answer, landing):
    """The error the app hears at its redirect URI."""
    assert answer.status_code == 302, answer.text
    to = answer.headers["Location"]
    assert to.startswith(landing.url), to
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(to).query))
    assert "code" not in q and q["state"] == "app-state"
    return q


def only_call(stand, path):
    [call] = [c for c in stand.calls if c["path"] == path]
    return call


@pytest.fixture(scope="module")
def google(server, admin):
    stand = provider(admin, server, "Google", mapping={"email": "email", "email_verified": "email_verified",
                                                        "name": "name", "picture": "picture"})
    yield stand
    admin.delete_identity_provider(UserPoolId=server["UserPoolId"], ProviderName="Google")
    stand.close()


def test_google(server, admin, google, landing):
    google.person = {"sub": "1045" + unique("g")[-8:], "email": "grace@gmail.test", "email_verified": True,
                     "name": "Grace Hopper", "picture": "https://pics.test/g.png"}
    client_id = app_client(admin, server, ["Google"], landing)
    flow = Flow(server, google, client_id, landing)
    asked = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(flow.start()).query))
    assert asked["response_type"] == "code" and asked["scope"] == SCOPES and asked["nonce"]
    assert asked["code_challenge_method"] == "S256"
    callback, _ = flow.at_provider()
    claims = flow.tokens(flow.back(callback))
    assert claims["cognito:username"] == f"google_{google.person['sub']}"
    assert claims["email"] == "grace@gmail.test" and claims["email_verified"] is True
    assert claims["picture"] == "https://pics.test/g.png"
    assert claims["identities"][0]["providerType"] == "Google"
    token_call = only_call(google, "/token")
    # Google: the secret and the PKCE verifier in the form body.
    assert token_call["body"]["client_secret"] == google.client_secret and token_call["body"]["code_verifier"]
    assert "authorization" not in token_call["headers"]
    assert only_call(google, "/userinfo")["headers"]["authorization"].startswith("Bearer at-")
    # The hosted session now signs the federated user in to the pool's
    # clients without the provider (single sign-on).
    calls = len(google.calls)
    q = {"client_id": client_id, "response_type": "code", "redirect_uri": landing.url, "state": "app-state",
         "scope": SCOPES}
    sso = flow.browser.get(server["HostedUiUrl"] + "/oauth2/authorize?" + urllib.parse.urlencode(q),
                           allow_redirects=False, timeout=10)
    assert flow.tokens(sso)["sub"] == claims["sub"] and len(google.calls) == calls


def test_facebook_graph_api(server, admin, landing):
    fb = provider(admin, server, "Facebook", scopes="public_profile,email",
                  mapping={"email": "email", "name": "name", "picture": "picture.data.url"})
    try:
        fb.person = {"sub": "10" + unique("f")[-8:], "email": "fb@facebook.test", "name": "Face Book",
                     "picture": {"data": {"url": "https://graph.test/p.jpg", "is_silhouette": False}},
                     "birthday": "01/01/1990"}
        client_id = app_client(admin, server, ["Facebook"], landing)
        claims = Flow(server, fb, client_id, landing)
        claims = claims.tokens(claims.run())
        assert claims["cognito:username"] == f"facebook_{fb.person['sub']}"
        assert claims["picture"] == "https://graph.test/p.jpg" and claims["name"] == "Face Book"
        assert claims["identities"][0]["userId"] == fb.person["sub"]
        # Facebook's token endpoint is a GET with the secret in the query;
        # the Graph API is asked for `id` and the mapped fields only.
        token_call = only_call(fb, "/token")
        assert token_call["method"] == "GET" and token_call["query"]["client_secret"] == fb.client_secret
        fields = only_call(fb, "/me")["query"]["fields"].split(",")
        assert fields[0] == "id" and sorted(fields[1:]) == ["email", "name", "picture"]
        assert "nonce" not in only_call(fb, "/authorize")["query"]
    finally:
        admin.delete_identity_provider(UserPoolId=server["UserPoolId"], ProviderName="Facebook")
        fb.close()


def test_login_with_amazon(server, admin, landing):
    amzn = provider(admin, server, "LoginWithAmazon", scopes="profile", mapping={"email": "email", "name": "name"})
    try:
        amzn.person = {"sub": "amzn1.account." + unique("a")[-8:].upper(), "email": "a@amazon.test", "name": "Amy"}
        client_id = app_client(admin, server, ["LoginWithAmazon"], landing)
        flow = Flow(server, amzn, client_id, landing)
        claims = flow.tokens(flow.run())
        assert claims["cognito:username"] == f"loginwithamazon_{amzn.person['sub']}"
        assert claims["email"] == "a@amazon.test" and claims["name"] == "Amy"
        assert only_call(amzn, "/token")["method"] == "POST"
    finally:
        admin.delete_identity_provider(UserPoolId=server["UserPoolId"], ProviderName="LoginWithAmazon")
        amzn.close()


def test_sign_in_with_apple_form_post(server, admin, landing):
    apple = provider(admin, server, "SignInWithApple", scopes="email name",
                     mapping={"email": "email", "name": "name", "given_name": "firstName",
                              "family_name": "lastName"})
    try:
        apple.person = {"sub": "001234." + unique("a")[-8:], "email": "ada@privaterelay.appleid.test"}
        client_id = app_client(admin, server, ["SignInWithApple"], landing)
        flow = Flow(server, apple, client_id, landing)
        asked = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(flow.start()).query))
        assert asked["response_mode"] == "form_post" and asked["nonce"]
        callback, form = flow.at_provider()
        assert form is not None and "user" in form
        claims = flow.tokens(flow.back(callback, form))
        assert claims["cognito:username"] == f"signinwithapple_{apple.person['sub']}"
        assert claims["name"] == "Ada Lovelace" and claims["given_name"] == "Ada"
        assert claims["family_name"] == "Lovelace" and claims["email"] == apple.person["email"]
        # The stand-in verified the client secret: an ES256 JWT by the team's key.
        secret = only_call(apple, "/token")["body"]["client_secret"]
        assert jwt.get_unverified_header(secret)["alg"] == "ES256"
    finally:
        admin.delete_identity_provider(UserPoolId=server["UserPoolId"], ProviderName="SignInWithApple")
        apple.close()


@pytest.fixture()
def oidc(server, admin, landing):
    name = unique("Stand")
    stand = provider(admin, server, "OIDC", name=name, mapping={"email": "email"})
    stand.person = {"sub": unique("s"), "email": "s@idp.test"}
    stand.client = app_client(admin, server, [name], landing)
    yield stand
    stand.close()


@pytest.mark.parametrize("tamper", [
    {"claims": {"nonce": "another"}},
    {"claims": {"aud": "someone-else"}},
    {"claims": {"iss": "https://evil.test"}},
    {"claims": {"exp": 1000}},
    {"other_key": True},
    {"alg": "none"},
    {"userinfo": {"sub": "somebody-else"}},
], ids=["nonce", "audience", "issuer", "expired", "signature", "alg-none", "userinfo-subject"])
def test_a_bad_answer_from_the_provider_never_signs_in(server, admin, oidc, landing, tamper):
    oidc.tamper = tamper
    flow = Flow(server, oidc, oidc.client, landing)
    q = app_error(flow.run(), landing)
    assert q["error"] == "invalid_request"
    assert q["error_description"] == f"The identity provider {oidc.name} could not complete the sign-in."
    assert "cognate_session" not in flow.browser.cookies
    with pytest.raises(admin.exceptions.UserNotFoundException):
        admin.admin_get_user(UserPoolId=server["UserPoolId"], Username=f"{oidc.name}_{oidc.person['sub']}")


def test_the_provider_refuses(server, oidc, landing):
    oidc.authorize_error = "access_denied"
    q = app_error(Flow(server, oidc, oidc.client, landing).run(), landing)
    assert q == {"error": "access_denied", "error_description": "The person said no.", "state": "app-state"}


def test_state_is_single_use_and_bound_to_the_browser(server, oidc, landing):
    flow = Flow(server, oidc, oidc.client, landing)
    flow.start()
    callback, _ = flow.at_provider()
    # Another browser (no binding cookie) cannot finish it: the error page.
    stranger = requests.get(callback, allow_redirects=False, timeout=10)
    assert stranger.status_code == 302 and stranger.headers["Location"] == "/error?error=invalid_request"
    # Nor can the right one afterwards: the state was taken.
    assert flow.back(callback).headers["Location"] == "/error?error=invalid_request"

    flow = Flow(server, oidc, oidc.client, landing)
    flow.start()
    callback, _ = flow.at_provider()
    flow.tokens(flow.back(callback))
    # Replayed: refused, no second code.
    again = flow.back(callback)
    assert again.headers["Location"] == "/error?error=invalid_request"
    # A made-up state.
    forged = requests.get(server["HostedUiUrl"] + "/oauth2/idpresponse?code=x&state=forged", allow_redirects=False,
                          timeout=10)
    assert forged.headers["Location"] == "/error?error=invalid_request"


def test_link_and_disable_provider_identities(server, admin, google, landing):
    pool = server["UserPoolId"]
    native = make_user(server, admin=admin)
    google.person = {"sub": "2045" + unique("l")[-8:], "email": "linked@gmail.test", "email_verified": True,
                     "name": "Linked", "picture": "https://pics.test/l.png"}
    source = {"ProviderName": "Google", "ProviderAttributeName": "Cognito_Subject",
              "ProviderAttributeValue": google.person["sub"]}
    admin.admin_link_provider_for_user(UserPoolId=pool, SourceUser=source, DestinationUser={
        "ProviderName": "Cognito", "ProviderAttributeValue": native})
    attrs = {a["Name"]: a["Value"] for a in admin.admin_get_user(UserPoolId=pool, Username=native)["UserAttributes"]}
    assert '"providerName":"Google"' in attrs["identities"].replace(" ", "")
    with pytest.raises(admin.exceptions.AliasExistsException):
        admin.admin_link_provider_for_user(UserPoolId=pool, SourceUser=source, DestinationUser={
            "ProviderName": "Cognito", "ProviderAttributeValue": native})
    with pytest.raises(admin.exceptions.UserNotFoundException):
        admin.admin_link_provider_for_user(UserPoolId=pool, SourceUser=dict(source, ProviderAttributeValue="other"),
                                           DestinationUser={"ProviderName": "Cognito",
                                                            "ProviderAttributeValue": "nobody-" + unique()})
    with pytest.raises(admin.exceptions.ResourceNotFoundException):
        admin.admin_link_provider_for_user(UserPoolId=pool, SourceUser=dict(source, ProviderName="Nope"),
                                           DestinationUser={"ProviderName": "Cognito",
                                                            "ProviderAttributeValue": native})
    with pytest.raises(admin.exceptions.InvalidParameterException):
        admin.admin_link_provider_for_user(UserPoolId=pool, SourceUser=dict(source, ProviderAttributeName="email"),
                                           DestinationUser={"ProviderName": "Cognito",
                                                            "ProviderAttributeValue": native})

    client_id = app_client(admin, server, ["COGNITO", "Google"], landing)
    flow = Flow(server, google, client_id, landing)
    claims = flow.tokens(flow.run())
    # Signed in as the native user, with the mapped attributes written to it.
    assert claims["cognito:username"] == native and claims["name"] == "Linked"

    # Disabled: the link goes, the next sign-in makes a federated user.
    admin.admin_disable_provider_for_user(UserPoolId=pool, User=source)
    attrs = {a["Name"]: a["Value"] for a in admin.admin_get_user(UserPoolId=pool, Username=native)["UserAttributes"]}
    assert "identities" not in attrs
    flow = Flow(server, google, client_id, landing)
    claims = flow.tokens(flow.run())
    assert claims["cognito:username"] == f"google_{google.person['sub']}"
    # A federated user that was signed in with cannot be a link source.
    with pytest.raises(admin.exceptions.InvalidParameterException) as err:
        admin.admin_link_provider_for_user(UserPoolId=pool, SourceUser=source, DestinationUser={
            "ProviderName": "Cognito", "ProviderAttributeValue": native})
    assert "Merging is not currently supported" in str(err.value)
    # Disabling the identity now disables that user: sign-in refused.
    admin.admin_disable_provider_for_user(UserPoolId=pool, User=source)
    assert admin.admin_get_user(UserPoolId=pool, Username=f"google_{google.person['sub']}")["Enabled"] is False
    q = app_error(Flow(server, google, client_id, landing).run(), landing)
    assert q["error"] == "invalid_request" and q["error_description"] == "User is disabled."
    with pytest.raises(admin.exceptions.UserNotFoundException):
        admin.admin_disable_provider_for_user(UserPoolId=pool, User=dict(source, ProviderAttributeValue="never"))
    # A native user disabled this way cannot sign in with the password.
    admin.admin_disable_provider_for_user(UserPoolId=pool, User={
        "ProviderName": "Cognito", "ProviderAttributeName": "Cognito_Subject", "ProviderAttributeValue": native})
    assert admin.admin_get_user(UserPoolId=pool, Username=native)["Enabled"] is False
    with pytest.raises(admin.exceptions.NotAuthorizedException):
        admin.admin_initiate_auth(UserPoolId=pool, ClientId=server["UserPoolClientId"],
                                  AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                  AuthParameters={"USERNAME": native, "PASSWORD": PASSWORD})


def test_providers_and_clients_declared_in_toml_and_in_a_stack(tmp_path, landing):
    """A provider and a client that lists it, from a TOML file and from a
    CloudFormation template: signed in through, as with the API."""
    import json as _json
    import subprocess

    from conftest import BINARY, Server

    stand = StandIn("OIDC")
    stand.name = "Corp"
    details = stand.details()
    try:
        config = tmp_path / "fed.toml"
        config.write_text(f"""version = 1
[[user_pools]]
name = "p"
output = "UserPool"
domain = {{ prefix = "fed-toml" }}
identity_providers = [{{ name = "Corp", type = "OIDC", details = {_json.dumps(details).replace('": "', '" = "')}, attribute_mapping = {{ email = "email" }} }}]
[[user_pools.clients]]
name = "web"
output = "Web"
allowed_oauth_flows = ["code"]
allowed_oauth_scopes = ["openid", "email", "profile"]
callback_urls = ["{landing.url}"]
supported_identity_providers = ["Corp"]
""")
        s = Server(tmp_path / "toml", config=config).start()
        try:
            stand.person = {"sub": "t1", "email": "t1@corp.test"}
            flow = Flow(s, stand, s["WebId"], landing)
            claims = flow.tokens(flow.run())
            assert claims["cognito:username"] == "Corp_t1" and claims["email"] == "t1@corp.test"
        finally:
            s.stop()
        bad = tmp_path / "bad.toml"
        bad.write_text(config.read_text().replace('supported_identity_providers = ["Corp"]',
                                                  'supported_identity_providers = ["Corp", "Okta"]'))
        r = subprocess.run([BINARY, "validate-config", str(bad)], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 2
        assert "user_pools[0].clients[0].supported_identity_providers[1]" in r.stderr
        assert "'Okta' is neither COGNITO nor an identity provider of this pool" in r.stderr

        template = tmp_path / "fed.yaml"
        template.write_text(f"""
Resources:
  Pool:
    Type: AWS::Cognito::UserPool
  Domain:
    Type: AWS::Cognito::UserPoolDomain
    Properties: {{UserPoolId: !Ref Pool, Domain: fed-stack}}
  Corp:
    Type: AWS::Cognito::UserPoolIdentityProvider
    Properties:
      UserPoolId: !Ref Pool
      ProviderName: Corp
      ProviderType: OIDC
      ProviderDetails: {_json.dumps(details)}
      AttributeMapping: {{email: email}}
  Web:
    Type: AWS::Cognito::UserPoolClient
    Properties:
      UserPoolId: !Ref Pool
      AllowedOAuthFlowsUserPoolClient: true
      AllowedOAuthFlows: [code]
      AllowedOAuthScopes: [openid, email, profile]
      CallbackURLs: ["{landing.url}"]
      SupportedIdentityProviders: [!Ref Corp]
""")
        s = Server(tmp_path / "stack", args=["--template", str(template)]).start()
        try:
            (_, stack), = s["Stacks"].items()
            pool = stack["Resources"]["Pool"]["PhysicalResourceId"]
            client = stack["Resources"]["Web"]["PhysicalResourceId"]
            described = s.client().describe_user_pool_client(UserPoolId=pool, ClientId=client)["UserPoolClient"]
            assert described["SupportedIdentityProviders"] == ["Corp"]
            stand.person = {"sub": "s1", "email": "s1@corp.test"}
            flow = Flow(s, stand, client, landing, hosted=stack["Resources"]["Domain"]["Url"])
            assert flow.tokens(flow.run())["cognito:username"] == "Corp_s1"
        finally:
            s.stop()
    finally:
        stand.close()
