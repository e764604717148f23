"""TLS: verification on by default, a custom CA bundle, and an explicit way to disable it."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fhirconv.push import EXIT_OK, EXIT_SERVER, FhirClient, ServerError

pytest.register_assert_rewrite("conftest_push")
from conftest_push import FaultProxy, FhirTestServer, expected_counts, run_cli, write_bundles  # noqa: E402

pytest_plugins = ["conftest_push"]

FAST: dict[str, Any] = {"backoff_base": 0.01, "backoff_cap": 0.05, "max_wait": 0.5, "timeout": 5.0,
                        "max_attempts": 2}


@pytest.fixture
def tls_proxy(fhir_server: FhirTestServer, tmp_path: Path) -> Iterator[tuple[FaultProxy, Path]]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the TLS tests need the openssl command (apt-get install openssl)", pytrace=False)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    proxy = FaultProxy(fhir_server.port, tls=ctx)
    yield proxy, cert
    proxy.stop()


def test_tls_verified_by_default_custom_ca_and_insecure(tls_proxy: tuple[FaultProxy, Path],
                                                         fhir_server: FhirTestServer, tmp_path: Path) -> None:
    proxy, cert = tls_proxy
    assert proxy.base.startswith("https://")
    write_bundles(tmp_path / "in", 2)
    with FhirClient(proxy.base, **FAST) as client:
        with pytest.raises(ServerError, match="cannot reach"):
            client.capabilities()
        refused = client.push_files([tmp_path / "in"])
    assert refused.exit_code == EXIT_SERVER and "CERTIFICATE_VERIFY_FAILED" in refused.errors[0]
    assert fhir_server.counts() == expected_counts(0)

    with FhirClient(proxy.base, ca_bundle=cert, **FAST) as client:
        assert client.push_files([tmp_path / "in"]).exit_code == EXIT_OK
    assert fhir_server.counts() == expected_counts(2)

    with FhirClient(proxy.base, verify=False, **FAST) as client:
        report = client.push_files([tmp_path / "in"])
    assert report.exit_code == EXIT_OK
    assert any("verification is disabled" in n for n in report.notices)

    result = run_cli(str(tmp_path / "in"), "--server", proxy.base, "--insecure", "--no-journal")
    assert result.returncode == EXIT_OK and "verification is disabled" in result.stderr
    result = run_cli(str(tmp_path / "in"), "--server", proxy.base, "--ca-bundle", str(cert), "--no-journal")
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    result = run_cli(str(tmp_path / "in"), "--server", proxy.base, "--ca-bundle", str(tmp_path / "nope.pem"))
    assert result.returncode == EXIT_SERVER and "cannot load the CA bundle" in result.stderr
