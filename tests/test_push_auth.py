"""Credentials: the token is sent, a 401 is explained with its exit code, secrets never leak."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fhirconv.push import EXIT_AUTH, EXIT_OK, AuthError, BasicAuth, BearerAuth, FhirClient

pytest.register_assert_rewrite("conftest_push")
from conftest_push import FaultProxy, cli_env, expected_counts, new_token, run_cli, write_bundles  # noqa: E402

pytest_plugins = ["conftest_push"]

FAST: dict[str, Any] = {"backoff_base": 0.01, "backoff_cap": 0.05, "max_wait": 0.5, "timeout": 5.0}


def test_bearer_token_is_sent_and_never_shown(server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    token = new_token()
    server = server_factory(FHIR_SERVER_TOKEN=token)
    proxy = FaultProxy(server.port)
    try:
        write_bundles(tmp_path / "in", 2)
        journal = tmp_path / "j.jsonl"
        env = cli_env(PUSH_TEST_TOKEN=token)
        result = run_cli(str(tmp_path / "in"), "--server", proxy.base, "--token-env", "PUSH_TEST_TOKEN",
                         "--journal", str(journal), "--verify", "--json", env=env)
        assert result.returncode == EXIT_OK, result.stdout + result.stderr
        assert server.counts() == expected_counts(2)
        writes = [s for s in proxy.seen if s.path != "/fhir/metadata"]
        assert writes and all(s.headers.get("Authorization") == f"Bearer {token}" for s in writes)
        for text in (result.stdout, result.stderr, journal.read_text()):
            assert token not in text
    finally:
        proxy.stop()


def test_wrong_or_missing_token_gives_a_clear_auth_failure(server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    token = new_token()
    server = server_factory(FHIR_SERVER_TOKEN=token)
    write_bundles(tmp_path / "in", 2)
    wrong = new_token()
    (tmp_path / "token").write_text(wrong + "\n")
    journal = tmp_path / "j.jsonl"
    result = run_cli(str(tmp_path / "in"), "--server", server.base, "--token-file", str(tmp_path / "token"),
                     "--journal", str(journal))
    assert result.returncode == EXIT_AUTH, result.stdout + result.stderr
    assert "HTTP 401" in result.stdout and "refused the credentials (bearer token)" in result.stdout
    for text in (result.stdout, result.stderr, journal.read_text()):
        assert wrong not in text and token not in text
    assert server.counts() == expected_counts(0)

    with FhirClient(server.base, **FAST) as client:
        report = client.push_files([tmp_path / "in"])
    assert report.exit_code == EXIT_AUTH
    assert report.entries[0].status == 401
    assert all(e.outcome == "not-sent" for e in report.entries[3:])       # stopped after the first 401
    with pytest.raises(AuthError):
        report.raise_for_status()

    result = run_cli(str(tmp_path / "in"), "--server", server.base, "--token-env", "NO_SUCH_VARIABLE_SET")
    assert result.returncode == EXIT_AUTH and "NO_SUCH_VARIABLE_SET is not set" in result.stderr


def test_basic_auth(server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    password = new_token()
    server = server_factory(FHIR_SERVER_BASIC=f"pusher:{password}")
    write_bundles(tmp_path / "in", 1)
    with FhirClient(server.base, auth=BasicAuth("pusher", password), **FAST) as client:
        assert client.push_files([tmp_path / "in"]).exit_code == EXIT_OK
    with FhirClient(server.base, auth=BearerAuth("nope-nope"), **FAST) as client:
        assert client.push_files([tmp_path / "in"]).exit_code == EXIT_AUTH
    env = cli_env(PUSH_TEST_PASSWORD=password)
    result = run_cli(str(tmp_path / "in"), "--server", server.base.replace("http://", "http://pusher:x@"),
                     "--basic-user", "pusher", "--basic-password-env", "PUSH_TEST_PASSWORD", "--no-journal",
                     "--json", env=env)
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert "pusher:x@" not in data["server"]
    assert password not in result.stdout + result.stderr


def test_no_secret_as_a_plain_option() -> None:
    result = run_cli("x.json", "--server", "http://127.0.0.1:9/fhir", "--token", "abc")
    assert result.returncode != 0 and "No such option" in result.stderr


@pytest.mark.parametrize("secret", ["abc\ndef", "abc\tdef", "tok\x7fen", "tökén"])
def test_a_secret_that_cannot_be_a_header_is_refused_unseen(secret: str, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(secret, encoding="utf-8")
    env = cli_env(FHIRCONV_TEST_PASSWORD=secret)
    for args in (["--token-file", str(token_file)], ["--basic-user", "me", "--basic-password-env",
                                                      "FHIRCONV_TEST_PASSWORD"]):
        if args[0] == "--basic-user" and secret == "tökén":
            continue        # basic credentials are base64-encoded: UTF-8 is allowed there
        r = run_cli("push", str(tmp_path), "--server", "http://127.0.0.1:9/fhir", *args, "--json", env=env,
                    timeout=30)
        assert r.returncode == EXIT_AUTH, (args, r.stderr)
        said = r.stdout + r.stderr
        for piece in (secret, secret.split("\n")[0], secret.split("\n")[-1]):
            assert piece not in said
        assert len([line for line in r.stderr.splitlines() if line.strip()]) == 1       # one clear line
        assert "retry" not in said and "cannot reach" not in said                    # no request was tried
