"""Harness for the real-client tests: starts `cognate serve` on loopback with
free ports and a data dir of its own, reads its outputs file, and stops it
by its pid. Clients (boto3, the AWS CLI, PyJWT, aws-jwt-verify) talk to it
exactly as they would to AWS."""

import json
import os
import pathlib
import secrets
import signal
import subprocess
import time

import boto3
import botocore.config
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("COGNATE_BIN", str(ROOT / "target" / "debug" / "cognate"))
ARTIFACTS = ROOT / "tests" / "artifacts"


LIBFAKETIME = pathlib.Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")


def faked_clock(clock_file=None, faketime=None):
    """The environment of a server whose wall clock libfaketime moves: by
    an offset the test writes to `clock_file` (read on every call), or by a
    fixed FAKETIME spec. Timers keep the real monotonic clock."""
    assert LIBFAKETIME.exists(), "scripts/test installs Debian's faketime"
    env = {"LD_PRELOAD": str(LIBFAKETIME), "DONT_FAKE_MONOTONIC": "1"}
    if clock_file is not None:
        env.update(FAKETIME_TIMESTAMP_FILE=str(clock_file), FAKETIME_NO_CACHE="1")
    if faketime is not None:
        env["FAKETIME"] = faketime
    return env


class Server:
    """One running cognate, with its outputs."""

    def __init__(self, data_dir, database_url=None, config=None, log="info,sqlx=warn", env=None, args=None):
        self.data_dir = pathlib.Path(data_dir)
        self.extra_args = list(args or [])
        self.database_url = database_url
        self.config = config
        self.proc = None
        self.outputs = {}
        self.listen = "127.0.0.1:0"
        self.log_filter = log
        self.extra_env = env or {}

    def start(self):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        out = self.data_dir / "outputs.json"
        if out.exists():
            out.unlink()
        args = [BINARY, "serve", "--data-dir", str(self.data_dir), "--listen", self.listen,
                "--outputs-file", str(out)]
        if self.database_url:
            args += ["--database-url", self.database_url]
        if self.config:
            args += ["--config", str(self.config)]
        args += self.extra_args
        self.log = open(self.data_dir / "server.log", "ab")
        env = dict(os.environ, COGNATE_LOG=self.log_filter, **self.extra_env)
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 60
        while not out.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"cognate exited with {self.proc.returncode}; see {self.data_dir}/server.log")
            if time.time() > deadline:
                raise RuntimeError("cognate did not write its outputs in 60 s")
            time.sleep(0.05)
        self.outputs = json.loads(out.read_text())
        return self

    def restart(self):
        """Stops and starts again on the same main port: the issuer URL, and
        so the tokens already issued, stay valid."""
        code = self.stop()
        self.listen = self["CognitoEndpoint"].split("://", 1)[1]
        self.start()
        return code

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def __getitem__(self, key):
        return self.outputs[key]

    def client(self, signed=True):
        """A boto3 cognito-idp client for this server."""
        creds = {}
        if signed:
            creds = dict(aws_access_key_id=self["AdminAccessKeyId"], aws_secret_access_key=self["AdminSecretAccessKey"])
        else:
            creds = dict(aws_access_key_id="AKIAUNKNOWNKEY000000", aws_secret_access_key="x" * 40)
        return boto3.client(
            "cognito-idp",
            endpoint_url=self["CognitoEndpoint"],
            region_name=self["Region"],
            config=botocore.config.Config(retries={"max_attempts": 1}),
            **creds,
        )

    def outbox_codes(self, username):
        """Codes sent to a user, oldest first."""
        found = []
        for f in sorted(pathlib.Path(self["OutboxDir"]).glob("*.json")):
            m = json.loads(f.read_text())
            if m["username"] == username:
                found.append(m)
        return found


@pytest.fixture(scope="session", autouse=True)
def _clean_env():
    # The tests pass credentials explicitly; nothing from the environment leaks in.
    for k in ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]:
        os.environ.pop(k, None)
    os.environ["AWS_CONFIG_FILE"] = "/dev/null"
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null"
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("cognate")).start()
    yield s
    assert s.stop() == 0, "cognate did not stop cleanly on SIGTERM"


@pytest.fixture
def fresh_server(tmp_path):
    """A server of its own, for tests that restart it."""
    s = Server(tmp_path / "data").start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def admin(server):
    return server.client()


@pytest.fixture(scope="session")
def public(server):
    return server.client(signed=False)


PASSWORD = "Corr3ct-Horse!"


def unique(prefix="user"):
    return f"{prefix}-{secrets.token_hex(4)}"


@pytest.fixture
def user(server, admin):
    """A confirmed user of the demo pool with a verified email."""
    name = unique()
    admin.admin_create_user(
        UserPoolId=server["UserPoolId"], Username=name, MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}, {"Name": "email_verified", "Value": "true"}],
    )
    admin.admin_set_user_password(UserPoolId=server["UserPoolId"], Username=name, Password=PASSWORD, Permanent=True)
    return name


def make_user(server, name=None, admin=None):
    """A confirmed user of the server's pool with a permanent password;
    `server` is a Server or its outputs (then give `admin`)."""
    admin = admin or server.client()
    name = name or unique()
    admin.admin_create_user(UserPoolId=server["UserPoolId"], Username=name, MessageAction="SUPPRESS")
    admin.admin_set_user_password(UserPoolId=server["UserPoolId"], Username=name, Password=PASSWORD, Permanent=True)
    return name


def error_type(excinfo):
    return excinfo.value.response["Error"]["Code"]
