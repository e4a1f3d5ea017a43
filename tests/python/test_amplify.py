"""Amplify JS v6, unchanged, in Node against cognate: signIn (USER_SRP_AUTH),
fetchAuthSession with a forced refresh (GetTokensFromRefreshToken),
getCurrentUser and a global signOut."""

import json
import time
import subprocess

import jwt

from conftest import PASSWORD, ROOT, Server, unique

JS = ROOT / "tests" / "js"


def test_amplify_v6_signs_in_refreshes_and_signs_out(tmp_path):
    s = Server(tmp_path / "data", log="info,sqlx=warn,cognate_identity::api=debug").start()
    try:
        admin = s.client()
        name = unique("amplify")
        admin.admin_create_user(UserPoolId=s["UserPoolId"], Username=name, MessageAction="SUPPRESS")
        admin.admin_set_user_password(UserPoolId=s["UserPoolId"], Username=name, Password=PASSWORD, Permanent=True)
        payload = {"endpoint": s["CognitoEndpoint"], "userPoolId": s["UserPoolId"], "clientId": s["UserPoolClientId"],
                   "username": name, "password": PASSWORD}
        out = subprocess.run(["node", str(JS / "amplify.mjs")], input=json.dumps(payload), capture_output=True,
                             text=True, timeout=120, cwd=JS)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        assert result["ok"], result
        assert result["signIn"] == {"isSignedIn": True, "nextStep": "DONE"}
        assert result["username"] == name
        first = jwt.decode(result["accessToken"], options={"verify_signature": False})
        again = jwt.decode(result["refreshedAccessToken"], options={"verify_signature": False})
        assert first["origin_jti"] == again["origin_jti"] and first["jti"] != again["jti"]
        assert result["signedOut"] is True
        wanted = ["InitiateAuth", "RespondToAuthChallenge", "GetTokensFromRefreshToken", "GlobalSignOut"]

        def calls():
            with open(s.data_dir / "server.log") as f:
                return [word for word in f.read().split() if word.startswith("operation=")]

        # Log lines are written by the server's log thread: wait for them.
        deadline = time.monotonic() + 10
        while any(f"operation={op}" not in calls() for op in wanted) and time.monotonic() < deadline:
            time.sleep(0.02)
        for op in wanted:
            assert f"operation={op}" in calls(), (op, calls())
        # The global sign-out revoked what Amplify held.
        public = s.client(signed=False)
        try:
            public.get_user(AccessToken=result["refreshedAccessToken"])
            raise AssertionError("revoked token was accepted")
        except public.exceptions.NotAuthorizedException:
            pass
    finally:
        s.stop()
