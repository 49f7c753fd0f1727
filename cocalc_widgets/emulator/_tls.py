"""https for the emulator: a throwaway certificate for loopback (made by ``trustme``) or the
caller's certificate and key files, and the server's SSL context.

``trustme`` is an optional dependency (``pip install "cocalc-widgets[https]"``); only the
throwaway certificate needs it. Serving given files needs only the standard library.
"""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The names a throwaway certificate is valid for: the loopback addresses and ``localhost``.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")

_MISSING_TRUSTME = (
    "a throwaway https certificate needs the 'trustme' package: "
    'python3 -m pip install "cocalc-widgets[https]" (or: python3 -m pip install trustme), '
    "or give your own certificate and key files"
)


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of an https server.

    ``cert_file`` holds the server's certificate (and any intermediates, and may hold the key);
    ``key_file`` its private key (``None``: it is in ``cert_file``); ``ca_file`` the certificate
    of the authority that issued it, for clients to trust (``None``: not known, e.g. a
    certificate from a public authority that clients trust already).
    """

    cert_file: Path
    key_file: Path | None = None
    ca_file: Path | None = None


#: What ``Emulator(tls=...)`` takes: ``True`` (a throwaway certificate for loopback), a
#: ``(certfile, keyfile)`` pair, or :class:`TlsFiles`; ``None``/``False`` serve plain http.
TlsSetting = bool | tuple[str | Path, str | Path | None] | TlsFiles | None


def throwaway_certificate(directory: str | os.PathLike[str]) -> TlsFiles:
    """Make a throwaway authority and a certificate it issues for :data:`LOOPBACK_NAMES`.

    Writes ``ca.pem`` (the authority: what a browser or ``requests`` is told to trust),
    ``cert.pem`` and ``key.pem`` (readable by the owner only) into ``directory``.
    Raises ``RuntimeError`` naming what to install when ``trustme`` is missing.
    """
    try:
        import trustme
    except ImportError:
        raise RuntimeError(_MISSING_TRUSTME) from None
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="cocalc-widgets emulator (throwaway)")
    leaf = ca.issue_cert(*LOOPBACK_NAMES, organization_name="cocalc-widgets emulator")
    files = TlsFiles(folder / "cert.pem", folder / "key.pem", folder / "ca.pem")
    ca.cert_pem.write_to_path(str(files.ca_file))
    with open(files.cert_file, "wb") as out:
        for pem in leaf.cert_chain_pems:
            out.write(pem.bytes())
    assert files.key_file is not None
    fd = os.open(files.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(leaf.private_key_pem.bytes())
    return files


class _LazyHandshakeContext(ssl.SSLContext):
    """An SSL context whose sockets do the TLS handshake on their first read.

    werkzeug wraps its listening socket once; with the default (handshake inside ``accept``),
    one client that connects and sends nothing would stall every other connection. With this,
    each connection shakes hands in its own request thread.
    """

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        kwargs["do_handshake_on_connect"] = False
        return super().wrap_socket(sock, *args, **kwargs)


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """The server's SSL context for ``files`` (TLS 1.2 or newer); raises ``ValueError`` with the
    file names when they cannot be loaded."""
    context = _LazyHandshakeContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(files.cert_file, files.key_file)
    except (OSError, ssl.SSLError) as err:
        key = f" and key file {str(files.key_file)!r}" if files.key_file else ""
        raise ValueError(
            f"cannot load the certificate file {str(files.cert_file)!r}{key}: {err}"
        ) from None
    return context


def resolve_tls(tls: TlsSetting) -> tuple[TlsFiles | None, Path | None]:
    """The files to serve for an ``Emulator(tls=...)`` value, and a temporary folder to remove
    at stop (a throwaway certificate's), if one was made."""
    if tls is None or tls is False:
        return None, None
    if tls is True:
        folder = Path(tempfile.mkdtemp(prefix="cocalc-emulator-tls-"))
        try:
            return throwaway_certificate(folder), folder
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    if isinstance(tls, TlsFiles):
        return tls, None
    if isinstance(tls, (tuple, list)) and len(tls) == 2 and tls[0]:
        cert, key = tls
        return TlsFiles(Path(cert), Path(key) if key else None), None
    raise TypeError(
        "tls must be True (a throwaway certificate for loopback), a (certfile, keyfile) pair, "
        f"a TlsFiles, or None/False for plain http; got {tls!r}"
    )
