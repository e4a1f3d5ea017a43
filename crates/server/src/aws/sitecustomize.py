"""cognate: imported at start by every Python function (it is on
PYTHONPATH) so that unchanged code reaches cognate at the AWS addresses of
its stack: name lookups of the hosts in COGNATE_AWS_HOSTS (and their
subdomains) on port 443 answer cognate's AWS listener (COGNATE_AWS_ENDPOINT),
whose certificate carries those names and is trusted through SSL_CERT_FILE,
REQUESTS_CA_BUNDLE and AWS_CA_BUNDLE. TLS keeps the original name.

socket.getaddrinfo is where urllib, http.client, urllib3/requests and
botocore all resolve before they connect: no DNS or /etc/hosts change."""

import os
import socket

_endpoint = os.environ.get("COGNATE_AWS_ENDPOINT", "")
_suffixes = [s for s in os.environ.get("COGNATE_AWS_HOSTS", "").split(",") if s]

if ":" in _endpoint and _suffixes:
    _host, _port = _endpoint.rsplit(":", 1)
    _getaddrinfo = socket.getaddrinfo

    def _ours(host):
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        return isinstance(host, str) and any(host == s or host.endswith("." + s) for s in _suffixes)

    def getaddrinfo(host, port, *args, **kwargs):
        if _ours(host) and str(port) in ("443", "https"):
            return _getaddrinfo(_host, int(_port), *args, **kwargs)
        return _getaddrinfo(host, port, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
