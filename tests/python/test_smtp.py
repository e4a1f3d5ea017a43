"""Messages go through SMTP when a server is configured: a real SMTP server
(aiosmtpd) on loopback receives the sign-up code, and the code confirms."""

import re
import socket

import pytest
from aiosmtpd.controller import Controller
from botocore.exceptions import ClientError

from conftest import PASSWORD, ROOT, Server, error_type, unique


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_with_smtp(tmp_path, port):
    demo = (ROOT / "examples" / "demo.toml").read_text()
    smtp = f'\n[messages.smtp]\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\nfrom = "Cognate <no-reply@example.com>"\n'
    path = tmp_path / "smtp.toml"
    path.write_text(demo.replace('region = "us-east-1"\n', 'region = "us-east-1"\n' + smtp, 1))
    return path


def test_sign_up_code_is_mailed_and_confirms(tmp_path):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    s = Server(tmp_path / "data", config=config_with_smtp(tmp_path, port)).start()
    try:
        public = s.client(signed=False)
        name = unique("mail")
        public.sign_up(ClientId=s["UserPoolClientId"], Username=name, Password=PASSWORD,
                       UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}])
        assert len(inbox.messages) == 1
        sender, recipients, content = inbox.messages[0]
        assert sender == "no-reply@example.com" and recipients == [f"{name}@example.com"]
        assert "Subject: Your verification code" in content
        code = re.search(r"Your verification code is (\d{6})\.", content).group(1)
        assert s.outbox_codes(name) == [], "with SMTP configured nothing goes to the outbox"
        public.confirm_sign_up(ClientId=s["UserPoolClientId"], Username=name, ConfirmationCode=code)
        assert s.client().admin_get_user(UserPoolId=s["UserPoolId"], Username=name)["UserStatus"] == "CONFIRMED"
    finally:
        s.stop()
        controller.stop()


def test_unreachable_mail_server_is_a_delivery_failure_and_the_code_can_be_resent(tmp_path):
    port = free_port()
    s = Server(tmp_path / "data", config=config_with_smtp(tmp_path, port)).start()
    try:
        public = s.client(signed=False)
        name = unique("nomail")
        with pytest.raises(ClientError) as e:
            public.sign_up(ClientId=s["UserPoolClientId"], Username=name, Password=PASSWORD,
                           UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}])
        assert error_type(e) == "CodeDeliveryFailureException"
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            public.resend_confirmation_code(ClientId=s["UserPoolClientId"], Username=name)
            assert len(inbox.messages) == 1
        finally:
            controller.stop()
    finally:
        s.stop()
