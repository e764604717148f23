"""SMART Backend Services against the test server's token endpoint (keys made by node's crypto)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhirconv.push import EXIT_AUTH, EXIT_OK, AuthError, FhirClient
from fhirconv.push.smart import SmartBackendAuth

pytest.register_assert_rewrite("conftest_push")
from conftest_push import SERVER_DIR, cli_env, run_cli, write_bundles  # noqa: E402

pytest_plugins = ["conftest_push"]

FAST: dict[str, Any] = {"backoff_base": 0.01, "backoff_cap": 0.05, "max_wait": 0.5, "timeout": 5.0}

KEYGEN = """
const c = require('crypto');
const fs = require('fs');
const [dir, kind, name] = process.argv.slice(1);
const opts = kind === 'rsa'
  ? { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: name.endsWith('pkcs1') ? 'pkcs1' : 'pkcs8', format: 'pem' } }
  : { namedCurve: 'P-384', publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' } };
const { publicKey, privateKey } = c.generateKeyPairSync(kind, opts);
fs.writeFileSync(`${dir}/${name}.pub.pem`, publicKey);
fs.writeFileSync(`${dir}/${name}.key.pem`, privateKey);
"""


def keypair(directory: Path, name: str, kind: str = "rsa") -> tuple[Path, Path]:
    subprocess.run(["node", "-e", KEYGEN, str(directory), kind, name], check=True, cwd=SERVER_DIR, timeout=60)
    return directory / f"{name}.key.pem", directory / f"{name}.pub.pem"


@pytest.mark.parametrize("key_format", ["pkcs8", "pkcs1"])
def test_smart_backend_services_token_and_refresh(server_factory, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                  key_format: str) -> None:
    key, pub = keypair(tmp_path, f"client-{key_format}")
    server = server_factory(FHIR_SERVER_SMART_CLIENT_ID="fhirconv-test", FHIR_SERVER_SMART_KEY=str(pub),
                            FHIR_SERVER_SMART_TTL="2")
    write_bundles(tmp_path / "in", 2)
    auth = SmartBackendAuth.from_key_file(token_url=None, client_id="fhirconv-test", key_file=key,
                                          scope="system/*.write")
    assert "PRIVATE" not in repr(auth)
    with FhirClient(server.base, auth=auth, **FAST) as client:
        first = client.push_files([tmp_path / "in"])
        assert first.exit_code == EXIT_OK, first.summary()
        assert auth.fetches == 1
        time.sleep(1.7)                       # past the refresh point (expires_in 2 s minus a margin)
        second = client.push_files([tmp_path / "in"])
        assert second.exit_code == EXIT_OK, second.summary()
    assert auth.fetches == 2
    stats = httpx.get(f"{server.root}/__stats").json()
    assert stats == {"tokens": 2, "unauthorized": 0, "rolledBack": 0}   # refreshed before expiry, never a 401
    assert first.totals["written"] == second.totals["written"] == 6


def test_smart_wrong_key_is_an_auth_failure(server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, pub = keypair(tmp_path, "registered")
    other_key, _ = keypair(tmp_path, "other")
    server = server_factory(FHIR_SERVER_SMART_CLIENT_ID="fhirconv-test", FHIR_SERVER_SMART_KEY=str(pub))
    write_bundles(tmp_path / "in", 1)
    journal = tmp_path / "j.jsonl"
    result = run_cli(str(tmp_path / "in"), "--server", server.base, "--smart-client-id", "fhirconv-test",
                     "--smart-key-file", str(other_key), "--journal", str(journal), env=cli_env())
    assert result.returncode == EXIT_AUTH, result.stdout + result.stderr
    assert "refused client fhirconv-test" in result.stdout + result.stderr
    assert "bad signature" in result.stdout + result.stderr
    assert "eyJ" not in result.stdout + result.stderr + (journal.read_text() if journal.exists() else "")


def test_smart_cli_with_es384_or_clear_error(server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key, pub = keypair(tmp_path, "ec", kind="ec")
    server = server_factory(FHIR_SERVER_SMART_CLIENT_ID="fhirconv-test", FHIR_SERVER_SMART_KEY=str(pub))
    write_bundles(tmp_path / "in", 1)
    try:
        import cryptography  # noqa: F401
    except ImportError:
        with pytest.raises(AuthError, match="cryptography"):
            SmartBackendAuth.from_key_file(token_url=None, client_id="fhirconv-test", key_file=key,
                                           scope="system/*.write", alg="ES384")
        with pytest.raises(AuthError, match="RSA private key"):
            SmartBackendAuth.from_key_file(token_url=None, client_id="fhirconv-test", key_file=key,
                                           scope="system/*.write")
        return
    result = run_cli(str(tmp_path / "in"), "--server", server.base, "--smart-client-id", "fhirconv-test",
                     "--smart-key-file", str(key), "--smart-alg", "ES384", "--no-journal", "--json")
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    assert json.loads(result.stdout)["totals"]["written"] == 3
