"""What the station can tell about its own certificate before the CSMS refuses it
(security profile 3): expired or not yet valid. Problems with the CSMS's certificate
(expired, revoked with a CRL, unknown root) show in the TLS handshake instead; the driver
logs both under ``OCPP-Auth-401``."""

from __future__ import annotations

import datetime as dt

from cryptography import x509


def client_certificate_problem(path: str, now: float) -> str | None:
    """A sentence saying why the certificate at ``path`` cannot work at ``now``, or None."""
    try:
        with open(path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
    except (OSError, ValueError) as e:
        return f"our client certificate {path} cannot be read: {e}"
    when = dt.datetime.fromtimestamp(now, dt.UTC)
    subject = cert.subject.rfc4514_string()
    if when >= cert.not_valid_after_utc:
        return f"our client certificate {subject} ({path}) expired on {cert.not_valid_after_utc:%Y-%m-%d}"
    if when < cert.not_valid_before_utc:
        return (f"our client certificate {subject} ({path}) is not valid before "
                f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")  # fmt: skip
    return None
