// cognate: loaded into every Node.js function (NODE_OPTIONS=--require) so
// that unchanged code reaches cognate at the AWS addresses of its stack:
// connections to the host names in COGNATE_AWS_HOSTS (and their
// subdomains) on port 443 go to cognate's AWS listener (COGNATE_AWS_ENDPOINT),
// whose certificate, signed by the CA in NODE_EXTRA_CA_CERTS, carries those
// names. TLS keeps the original name (SNI and the certificate check).
//
// net.Socket.prototype.connect is the one place every client goes through
// (http/https, fetch (undici), axios, the AWS SDK): no DNS or /etc/hosts
// change is needed, and nothing else is touched.
"use strict";
const net = require("node:net");

const endpoint = process.env.COGNATE_AWS_ENDPOINT || "";
const suffixes = (process.env.COGNATE_AWS_HOSTS || "").split(",").filter(Boolean);
const colon = endpoint.lastIndexOf(":");
if (colon > 0 && suffixes.length > 0) {
  const host = endpoint.slice(0, colon);
  const port = Number(endpoint.slice(colon + 1));
  const ours = (name) =>
    typeof name === "string" && suffixes.some((s) => name === s || name.endsWith("." + s));
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (...args) {
    // (options, cb), or the internal normalized form [options, cb].
    const options = Array.isArray(args[0]) ? args[0][0] : args[0];
    if (options && typeof options === "object" && ours(options.host) && Number(options.port || 443) === 443) {
      if (!options.servername) options.servername = options.host;
      options.host = host;
      options.port = port;
    }
    return connect.apply(this, args);
  };
}
