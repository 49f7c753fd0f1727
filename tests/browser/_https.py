"""https on loopback for the browser tests: Chromium that trusts a throwaway authority, port
443, and where a test that must run here may not skip.

Chromium is given the authority properly: an NSS database (``certutil`` from Debian's
``libnss3-tools``, which ``.ci/run`` installs) in a temporary ``HOME`` holds it as a trusted CA,
so Chromium verifies every certificate it issued as it would a real one. Without ``certutil``,
Chromium is told to accept exactly the server certificate's public key
(``--ignore-certificate-errors-spki-list``): still nothing else, unlike Playwright's
``ignore_https_errors``.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

#: Set (by ``.ci/run``) to make the production-path tests fail instead of skipping.
REQUIRE_ENV = "COCALC_REQUIRE_HTTPS_TEST"


def chromium_trusting(tls: Any, home: Path) -> tuple[dict[str, str], list[str], str]:
    """``(env, extra args, how)`` for launching Chromium so it trusts ``tls`` (a ``TlsFiles``
    whose ``ca_file`` issued ``cert_file``); ``home`` becomes its ``HOME``."""
    certutil = shutil.which("certutil")
    if certutil and tls.ca_file:
        db = home / ".pki" / "nssdb"
        db.mkdir(parents=True, exist_ok=True)
        subprocess.run([certutil, "-N", "-d", f"sql:{db}", "--empty-password"], check=True)
        subprocess.run(
            [
                certutil,
                "-A",
                "-d",
                f"sql:{db}",
                "-n",
                "cocalc-widgets test CA",
                "-t",
                "C,,",
                "-i",
                str(tls.ca_file),
            ],
            check=True,
        )
        env = {**os.environ, "HOME": str(home)}
        return env, [], f"trusts the authority {tls.ca_file} (NSS database in {db})"
    pin = _spki_sha256(Path(tls.cert_file))
    how = f"accepts the server key {pin} only (no certutil: apt-get install libnss3-tools)"
    return dict(os.environ), [f"--ignore-certificate-errors-spki-list={pin}"], how


def _spki_sha256(cert_file: Path) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    der = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def port_problem(port: int, host: str = "127.0.0.1") -> str | None:
    """Why ``host:port`` cannot be served here (taken, or not allowed), or ``None``."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Jupyter's server does
        try:
            sock.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is taken by another server"
            if err.errno == errno.EACCES:
                return (
                    f"port {port} on {host} cannot be bound by this user (run as root as CI "
                    "does, or lower net.ipv4.ip_unprivileged_port_start)"
                )
            return f"port {port} on {host} cannot be bound: {err}"
    return None
