"""The seeds' own command lines, run against cognate: the AWS CLI (seed 002)
and seed 003's two scripts."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import jwt
import pytest

from conftest import PASSWORD, ROOT, unique

SEEDS = ROOT / "tests" / "seeds"


def aws_cli():
    exe = shutil.which("aws", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("aws")
    assert exe, "the AWS CLI is installed by scripts/test"
    return exe


def cli(server, *args, credentials=True):
    env = dict(os.environ, AWS_DEFAULT_REGION=server["Region"])
    if credentials:
        env.update(AWS_ACCESS_KEY_ID=server["AdminAccessKeyId"], AWS_SECRET_ACCESS_KEY=server["AdminSecretAccessKey"])
    out = subprocess.run(
        [aws_cli(), "cognito-idp", *args, "--endpoint-url", server["CognitoEndpoint"], "--output", "json"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    return out


def claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def test_seed_002_cli_creates_a_user_sets_a_password_and_signs_in(server):
    pool, client = server["UserPoolId"], server["UserPoolClientId"]
    name = unique("seed002")
    created = cli(server, "admin-create-user", "--user-pool-id", pool, "--username", name,
                  "--user-attributes", f"Name=email,Value={name}@example.com", "--message-action", "SUPPRESS")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["User"]["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    setpw = cli(server, "admin-set-user-password", "--user-pool-id", pool, "--username", name,
                "--password", PASSWORD, "--permanent")
    assert setpw.returncode == 0, setpw.stderr
    signin = cli(server, "admin-initiate-auth", "--user-pool-id", pool, "--client-id", client,
                 "--auth-flow", "ADMIN_USER_PASSWORD_AUTH", "--auth-parameters", f"USERNAME={name},PASSWORD={PASSWORD}")
    assert signin.returncode == 0, signin.stderr
    result = json.loads(signin.stdout)["AuthenticationResult"]
    assert claims(result["AccessToken"])["username"] == name
    assert claims(result["IdToken"])["cognito:username"] == name
    assert result["ExpiresIn"] == 3600 and result["TokenType"] == "Bearer"


def test_cli_admin_call_without_credentials_is_refused_by_the_cli(server):
    out = cli(server, "list-users", "--user-pool-id", server["UserPoolId"], credentials=False)
    assert out.returncode != 0
    assert "credentials" in out.stderr.lower()


def test_cli_admin_call_with_wrong_secret_is_refused(server):
    env_server = dict(server.outputs)
    env_server["AdminSecretAccessKey"] = "wrong" * 8

    class Wrong:
        outputs = env_server

        def __getitem__(self, k):
            return env_server[k]

    out = cli(Wrong(), "list-users", "--user-pool-id", server["UserPoolId"])
    assert out.returncode != 0
    assert "InvalidSignatureException" in out.stderr


def seed_env(server, user):
    return dict(
        os.environ,
        SEED_API_URL=server["ApiUrl"] + "/whoami",
        SEED_COGNITO_IDP_URL=server["CognitoEndpoint"],
        SEED_CLIENT_ID=server["ConfidentialClientId"],
        SEED_CLIENT_SECRET=server["ConfidentialClientSecret"],
        SEED_USERNAME=user,
        SEED_PASSWORD=PASSWORD,
        AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER=server["CognitoEndpoint"],
        AWS_ACCESS_KEY_ID="AKIANOTUSEDBYPUBLICOPS",
        AWS_SECRET_ACCESS_KEY="unused-for-unsigned-operations",
    )


def access_token_of(stdout):
    line = next(l for l in stdout.splitlines() if l.startswith("Access Token: "))
    return line.removeprefix("Access Token: ")


@pytest.mark.parametrize("script", ["seed003_method1_curl.sh", "seed003_method2_cli.sh"])
def test_seed_003_scripts_get_an_access_token_with_secret_hash(server, user, script):
    env = seed_env(server, user)
    env["PATH"] = f"{pathlib.Path(aws_cli()).parent}:{env['PATH']}"
    out = subprocess.run(["bash", str(SEEDS / script)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    token = access_token_of(out.stdout)
    c = claims(token)
    assert c["client_id"] == server["ConfidentialClientId"]
    assert c["username"] == user
    assert c["token_use"] == "access"
    # The script's last line calls the API with the token: the demo's
    # JWT-authorized /whoami answers as seed 003's function does.
    assert out.stdout.rstrip().endswith(f"Hello, World! I am {user}!")


def test_seed_003_with_a_wrong_secret_gets_no_token(server, user):
    env = seed_env(server, user)
    env["SEED_CLIENT_SECRET"] = "not-the-secret"
    out = subprocess.run(["bash", str(SEEDS / "seed003_method1_curl.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert access_token_of(out.stdout) == "null"
