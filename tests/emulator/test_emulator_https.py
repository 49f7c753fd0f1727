"""The emulator over https: ``Emulator(tls=...)`` and ``cocalc-widgets emulator --https`` /
``--certfile``/``--keyfile``; clients trust ``emu.ca_file``; the sign-in cookie is Secure."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from _running import start_command, stop_command

from cocalc_widgets import CoCalcClient
from cocalc_widgets.cli import build_parser
from cocalc_widgets.emulator import Emulator, TlsFiles
from cocalc_widgets.emulator._tls import LOOPBACK_NAMES, throwaway_certificate


@pytest.fixture
def https_emulator(tmp_path):
    emu = Emulator(data_dir=tmp_path / "data", tls=True)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


def _ping(emu: Emulator, verify) -> requests.Response:
    return requests.post(f"{emu.url}/api/v1/ping", auth=(emu.api_key, ""), verify=verify, timeout=10)


def test_throwaway_certificate_serves_https_that_trusts_its_ca(https_emulator):
    emu = https_emulator
    assert emu.url.startswith("https://127.0.0.1:") and emu.scheme == "https"
    assert emu.ca_file is not None and emu.ca_file.is_file()
    assert emu.cert_file is not None and emu.cert_file.is_file()
    assert emu.tls is not None and emu.tls.key_file.stat().st_mode & 0o077 == 0
    r = _ping(emu, str(emu.ca_file))
    assert r.status_code == 200 and r.json()["event"] == "pong"
    with pytest.raises(requests.exceptions.SSLError):  # not trusted without the CA
        _ping(emu, True)
    with pytest.raises(requests.exceptions.ConnectionError):  # plain http to the https port
        requests.post(emu.url.replace("https://", "http://") + "/api/v1/ping", timeout=10)
    assert _ping(emu, str(emu.ca_file)).status_code == 200  # a failed handshake harms nothing


def test_certificate_names_loopback_only(https_emulator):
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(https_emulator.cert_file.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    addresses = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    assert sorted(names + addresses) == sorted(LOOPBACK_NAMES)
    # ... and the standard library's client verifies it by name and by address
    ctx = ssl.create_default_context(cafile=str(https_emulator.ca_file))
    for name in ("localhost", "127.0.0.1"):
        with (
            socket.create_connection(("127.0.0.1", https_emulator.port), timeout=10) as raw,
            ctx.wrap_socket(raw, server_hostname=name) as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_a_silent_client_does_not_stall_the_others(https_emulator):
    # Connected but never shaking hands: the handshake runs in that connection's own thread.
    silent = [socket.create_connection(("127.0.0.1", https_emulator.port)) for _ in range(3)]
    try:
        t0 = time.monotonic()
        assert _ping(https_emulator, str(https_emulator.ca_file)).status_code == 200
        assert time.monotonic() - t0 < 5
    finally:
        for s in silent:
            s.close()


def test_sign_in_cookie_is_secure_over_https(https_emulator):
    emu = https_emulator
    token = emu.state.issue_token()
    r = requests.get(
        f"{emu.url}/auth/impersonate", params={"auth_token": token}, verify=str(emu.ca_file),
        timeout=10,
    )
    assert r.status_code == 200
    (cookie,) = [c for c in r.cookies]
    assert cookie.name == "remember_me" and cookie.secure
    assert "SameSite=Lax" in r.headers["Set-Cookie"] and "Secure" in r.headers["Set-Cookie"]


def test_given_files_and_a_key_inside_the_certificate_file(tmp_path):
    made = throwaway_certificate(tmp_path / "tls")
    with Emulator(data_dir=tmp_path / "a", tls=(made.cert_file, made.key_file)) as emu:
        assert emu.url.startswith("https://") and emu.ca_file is None
        assert emu.cert_file == made.cert_file
        assert _ping(emu, str(made.ca_file)).status_code == 200
    both = tmp_path / "both.pem"
    both.write_bytes(made.key_file.read_bytes() + made.cert_file.read_bytes())
    with Emulator(data_dir=tmp_path / "b", tls=(str(both), None)) as emu:
        assert _ping(emu, str(made.ca_file)).status_code == 200
    with Emulator(data_dir=tmp_path / "c", tls=made) as emu:  # a TlsFiles names its CA
        assert emu.ca_file == made.ca_file
        assert _ping(emu, str(emu.ca_file)).status_code == 200
    # given files are the caller's: never removed
    assert made.cert_file.exists() and made.key_file.exists() and made.ca_file.exists()


def test_throwaway_files_go_at_stop(tmp_path):
    emu = Emulator(data_dir=tmp_path / "d", tls=True).start()
    folder = emu.ca_file.parent
    assert folder.is_dir()
    emu.stop()
    assert not folder.exists()


def test_plain_http_by_default(tmp_path):
    with Emulator(data_dir=tmp_path / "d") as emu:
        assert emu.url.startswith("http://") and emu.tls is None and emu.ca_file is None
        assert emu.cert_file is None


def test_bad_settings_say_what_is_wrong(tmp_path):
    with pytest.raises(TypeError, match=r"tls must be True .*\(certfile, keyfile\)"):
        Emulator(data_dir=tmp_path / "d", tls="yes")
    with pytest.raises(ValueError, match=r"cannot load the certificate file '.*nope\.pem'"):
        Emulator(data_dir=tmp_path / "d", tls=(tmp_path / "nope.pem", tmp_path / "nokey.pem"))
    not_a_cert = tmp_path / "x.pem"
    not_a_cert.write_text("hello")
    with pytest.raises(ValueError, match="cannot load the certificate file"):
        Emulator(data_dir=tmp_path / "d", tls=TlsFiles(not_a_cert))


def test_missing_trustme_names_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "trustme", None)  # import trustme raises ImportError
    before = set(Path(__import__("tempfile").gettempdir()).glob("cocalc-emulator-tls-*"))
    with pytest.raises(RuntimeError, match=r'pip install "cocalc-widgets\[https\]"'):
        Emulator(data_dir=tmp_path / "d", tls=True)
    after = set(Path(__import__("tempfile").gettempdir()).glob("cocalc-emulator-tls-*"))
    assert after == before  # no folder left behind


# -- the command line ----------------------------------------------------------------------------
def test_parser_has_the_https_flags():
    args = build_parser().parse_args(["emulator", "--https"])
    assert args.https and args.certfile is None and args.keyfile is None
    args = build_parser().parse_args(["emulator", "--certfile", "c.pem", "--keyfile", "k.pem"])
    assert (args.https, args.certfile, args.keyfile) == (False, "c.pem", "k.pem")


def _start(args: list[str]) -> tuple[subprocess.Popen, str]:
    return start_command("cocalc_widgets.emulator", "--port", "0", *args, stderr=subprocess.PIPE)


def test_cli_https_prints_the_ca_to_trust_and_removes_it_at_exit(tmp_path, monkeypatch):
    proc, out = _start(["--https", "--data", str(tmp_path / "data"), "--api-key", "sk-httpskey"])
    try:
        url = re.search(r"running at (https://127\.0\.0\.1:\d+)", out).group(1)
        ca = Path(re.search(r"CA file:\s+(\S+)", out).group(1))
        # The printed export line is enough for a client in another shell, the CA included.
        exports = re.search(r"^  export (.+)$", out, re.MULTILINE).group(1)
        for name, value in (pair.split("=", 1) for pair in shlex.split(exports)):
            monkeypatch.setenv(name, value)
        assert os.environ["REQUESTS_CA_BUNDLE"] == str(ca)
        with CoCalcClient() as client:
            assert client.host == url and client.ping().latency >= 0
        cert = Path(re.search(r"cert file:\s+(\S+)", out).group(1))
        assert "throwaway certificate for 127.0.0.1, localhost and ::1" in out
        assert ca.is_file() and cert.is_file() and ca.parent == cert.parent
        r = requests.post(f"{url}/api/v1/ping", auth=("sk-httpskey", ""), verify=str(ca), timeout=10)
        assert r.json()["event"] == "pong"
        assert requests.get(f"{url}/", verify=str(ca), timeout=10).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert not ca.parent.exists()
    finally:
        stop_command(proc)


def test_cli_serves_given_files(tmp_path):
    made = throwaway_certificate(tmp_path / "tls")
    proc, out = _start(["--certfile", str(made.cert_file), "--keyfile", str(made.key_file),
                        "--data", str(tmp_path / "data"), "--api-key", "sk-filekey"])
    try:
        url = re.search(r"running at (https://127\.0\.0\.1:\d+)", out).group(1)
        assert f"https:      certificate {made.cert_file}, key {made.key_file}" in out
        r = requests.post(f"{url}/api/v1/ping", auth=("sk-filekey", ""), verify=str(made.ca_file),
                          timeout=10)
        assert r.json()["event"] == "pong"
    finally:
        stop_command(proc)
    assert made.cert_file.exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--https", "--certfile", "c.pem"], "--https makes its own certificate"),
        (["--keyfile", "k.pem"], "--keyfile needs --certfile"),
        (["--certfile", "/nonexistent/c.pem"], "cannot load the certificate file '/nonexistent/c.pem'"),
    ],
)
def test_cli_bad_https_flags_exit_2_with_a_reason(tmp_path, flags, message):
    proc = subprocess.run(
        [sys.executable, "-m", "cocalc_widgets.emulator", "--data", str(tmp_path), *flags],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
