"""Identity providers through the JSON API with boto3 (issue 14, first
part): every operation, each type's required details, Cognito's errors."""

import pytest

from conftest import unique

OIDC = {"client_id": "app", "client_secret": "s3cret", "attributes_request_method": "GET",
        "oidc_issuer": "https://idp.example.test", "authorize_scopes": "openid email"}


@pytest.fixture()
def pool(admin):
    return admin.create_user_pool(PoolName=unique("fed"))["UserPool"]["Id"]


def test_create_describe_list_update_delete(admin, pool):
    created = admin.create_identity_provider(
        UserPoolId=pool, ProviderName="Okta", ProviderType="OIDC", ProviderDetails=OIDC,
        AttributeMapping={"email": "email"}, IdpIdentifiers=["example.test"])["IdentityProvider"]
    assert created["ProviderName"] == "Okta" and created["ProviderType"] == "OIDC"
    assert created["ProviderDetails"] == OIDC
    # Cognito maps the provider's subject to the username.
    assert created["AttributeMapping"] == {"email": "email", "username": "sub"}
    assert created["IdpIdentifiers"] == ["example.test"]
    assert admin.describe_identity_provider(UserPoolId=pool, ProviderName="Okta")["IdentityProvider"] == created
    admin.create_identity_provider(UserPoolId=pool, ProviderName="Google", ProviderType="Google", ProviderDetails={
        "client_id": "g", "client_secret": "gs", "authorize_scopes": "profile email openid"})
    listed = admin.list_identity_providers(UserPoolId=pool, MaxResults=1)
    assert [p["ProviderName"] for p in listed["Providers"]] == ["Google"] and "NextToken" in listed
    rest = admin.list_identity_providers(UserPoolId=pool, MaxResults=1, NextToken=listed["NextToken"])
    assert [(p["ProviderName"], p["ProviderType"]) for p in rest["Providers"]] == [("Okta", "OIDC")]
    by_id = admin.get_identity_provider_by_identifier(UserPoolId=pool, IdpIdentifier="example.test")
    assert by_id["IdentityProvider"]["ProviderName"] == "Okta"
    updated = admin.update_identity_provider(UserPoolId=pool, ProviderName="Okta",
                                             ProviderDetails={"authorize_scopes": "openid"},
                                             AttributeMapping={"name": "name"}, IdpIdentifiers=["other.test"])
    p = updated["IdentityProvider"]
    assert p["ProviderDetails"]["authorize_scopes"] == "openid" and p["ProviderDetails"]["client_id"] == "app"
    assert p["AttributeMapping"]["name"] == "name" and p["IdpIdentifiers"] == ["other.test"]
    with pytest.raises(admin.exceptions.ResourceNotFoundException):
        admin.get_identity_provider_by_identifier(UserPoolId=pool, IdpIdentifier="example.test")
    admin.delete_identity_provider(UserPoolId=pool, ProviderName="Okta")
    with pytest.raises(admin.exceptions.ResourceNotFoundException) as err:
        admin.describe_identity_provider(UserPoolId=pool, ProviderName="Okta")
    assert "Identity provider Okta does not exist." in str(err.value)
    with pytest.raises(admin.exceptions.ResourceNotFoundException):
        admin.delete_identity_provider(UserPoolId=pool, ProviderName="Okta")


def test_refusals_as_cognito_gives_them(admin, pool):
    admin.create_identity_provider(UserPoolId=pool, ProviderName="Okta", ProviderType="OIDC",
                                   ProviderDetails=OIDC, IdpIdentifiers=["example.test"])
    with pytest.raises(admin.exceptions.DuplicateProviderException):
        admin.create_identity_provider(UserPoolId=pool, ProviderName="Okta", ProviderType="OIDC", ProviderDetails=OIDC)
    bad = [
        ("Okta2", "OIDC", {k: v for k, v in OIDC.items() if k != "oidc_issuer"}, "oidc_issuer is required"),
        ("Okta3", "OIDC", dict(OIDC, attributes_request_method="PUT"), "attributes_request_method"),
        ("Google", "Google", {"client_id": "g", "authorize_scopes": "email"}, "client_secret is required"),
        ("MyGoogle", "Google", {"client_id": "g", "client_secret": "s", "authorize_scopes": "email"}, "must be named Google"),
        ("SignInWithApple", "SignInWithApple", {"client_id": "a", "authorize_scopes": "email"}, "team_id is required"),
        ("Corp", "SAML", {}, "MetadataURL or MetadataFile"),
        ("COGNITO", "OIDC", OIDC, "reserved"),
        ("Okta4", "OIDC", OIDC, "already used by provider Okta"),
    ]
    for name, kind, details, message in bad:
        kwargs = {"IdpIdentifiers": ["example.test"]} if name == "Okta4" else {}
        with pytest.raises(admin.exceptions.InvalidParameterException) as err:
            admin.create_identity_provider(UserPoolId=pool, ProviderName=name, ProviderType=kind,
                                           ProviderDetails=details, **kwargs)
        assert message in str(err.value), (name, str(err.value))
    with pytest.raises(admin.exceptions.InvalidParameterException):
        admin.create_identity_provider(UserPoolId=pool, ProviderName="X", ProviderType="Twitter", ProviderDetails={})
    admin.create_identity_provider(UserPoolId=pool, ProviderName="Corp", ProviderType="SAML",
                                   ProviderDetails={"MetadataURL": "https://idp.example.test/metadata"})
    with pytest.raises(admin.exceptions.ResourceNotFoundException):
        admin.list_identity_providers(UserPoolId="us-east-1_nothere0", MaxResults=10)


def test_clients_name_only_providers_of_their_pool(admin, pool):
    with pytest.raises(admin.exceptions.InvalidParameterException) as err:
        admin.create_user_pool_client(UserPoolId=pool, ClientName="web", SupportedIdentityProviders=["COGNITO", "Okta"])
    assert f"The provider Okta does not exist for User Pool {pool}" in str(err.value)
    admin.create_identity_provider(UserPoolId=pool, ProviderName="Okta", ProviderType="OIDC", ProviderDetails=OIDC)
    client = admin.create_user_pool_client(UserPoolId=pool, ClientName="web",
                                           SupportedIdentityProviders=["COGNITO", "Okta"])["UserPoolClient"]
    assert client["SupportedIdentityProviders"] == ["COGNITO", "Okta"]


def test_providers_of_a_stack_and_of_the_config(tmp_path):
    import subprocess
    from conftest import BINARY, Server
    template = tmp_path / "fed.yaml"
    base = """
Resources:
  Pool:
    Type: AWS::Cognito::UserPool
  Okta:
    Type: AWS::Cognito::UserPoolIdentityProvider
    Properties:
      UserPoolId: !Ref Pool
      ProviderName: Okta
      ProviderType: OIDC
      ProviderDetails: {client_id: app, client_secret: s, attributes_request_method: GET,
                        oidc_issuer: "https://idp.example.test", authorize_scopes: openid email}
      AttributeMapping: {email: email}
      IdpIdentifiers: [example.test]
"""
    template.write_text(base)
    data = tmp_path / "data"
    s = Server(data, args=["--template", str(template)]).start()
    try:
        (_, stack), = s["Stacks"].items()
        pool = stack["Resources"]["Pool"]["PhysicalResourceId"]
        assert stack["Resources"]["Okta"]["PhysicalResourceId"] == "Okta"
        p = s.client().describe_identity_provider(UserPoolId=pool, ProviderName="Okta")["IdentityProvider"]
        assert p["ProviderDetails"]["oidc_issuer"] == "https://idp.example.test"
        assert p["AttributeMapping"] == {"email": "email", "username": "sub"}
    finally:
        s.stop()
    # Removed from the template: removed on restart.
    template.write_text(base.split("  Okta:")[0])
    s = Server(data, args=["--template", str(template)]).start()
    try:
        with pytest.raises(s.client().exceptions.ResourceNotFoundException):
            s.client().describe_identity_provider(UserPoolId=pool, ProviderName="Okta")
    finally:
        s.stop()
    # In a TOML file, with the API's rules: a provider without its issuer stops the start.
    config = tmp_path / "fed.toml"
    config.write_text("""version = 1
[[user_pools]]
name = "p"
identity_providers = [{ name = "Okta", type = "OIDC", details = { client_id = "app", attributes_request_method = "GET", authorize_scopes = "openid" } }]
""")
    r = subprocess.run([BINARY, "serve", "--config", str(config), "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d2")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "oidc_issuer is required" in r.stderr, r.stderr


def test_signing_certificate_is_one_x509_per_pool(admin, pool):
    import base64
    from cryptography import x509
    first = admin.get_signing_certificate(UserPoolId=pool)["Certificate"]
    cert = x509.load_der_x509_certificate(base64.b64decode(first))
    assert pool in cert.subject.rfc4514_string()
    assert admin.get_signing_certificate(UserPoolId=pool)["Certificate"] == first
    other = admin.create_user_pool(PoolName=unique("fed"))["UserPool"]["Id"]
    assert admin.get_signing_certificate(UserPoolId=other)["Certificate"] != first
    with pytest.raises(admin.exceptions.ResourceNotFoundException):
        admin.get_signing_certificate(UserPoolId="us-east-1_nothere0")
