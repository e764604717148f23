"""``fhirconv push``: the command-line face of :mod:`fhirconv.push`.

``register(app)`` adds the command to a typer app. Secrets are only taken from the
environment or a file, never as an option value (it would land in shell history).
Progress and notices go to stderr; the summary (or ``--json`` report) to stdout. The exit
status is the report's exit code (see :mod:`fhirconv.push`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from .push import (
    EXIT_AUTH,
    EXIT_REJECTED,
    EXIT_SERVER,
    AuthError,
    BasicAuth,
    BearerAuth,
    FhirClient,
    JournalError,
    PushAuth,
    PushError,
    default_journal_path,
)


class Mode(StrEnum):
    put = "put"
    conditional = "conditional"


class BundleType(StrEnum):
    auto = "auto"
    transaction = "transaction"
    batch = "batch"


def _err(text: str) -> None:
    typer.echo(text, err=True)


def _auth(token_env: str | None, token_file: Path | None, basic_user: str | None,
          basic_password_env: str | None, smart: dict[str, Any]) -> PushAuth | None:
    chosen = [name for name, on in (("--token-env", token_env), ("--token-file", token_file),
                                    ("--basic-user", basic_user), ("--smart-client-id", smart.get("client_id")))
              if on]
    if len(chosen) > 1:
        raise AuthError(f"choose one way to authenticate, not {' and '.join(chosen)}")
    if token_env:
        return BearerAuth.from_env(token_env)
    if token_file:
        return BearerAuth.from_file(token_file)
    if basic_user:
        if not basic_password_env:
            raise AuthError("--basic-user needs --basic-password-env NAME (the environment variable "
                            "holding the password)")
        return BasicAuth.from_env(basic_user, basic_password_env)
    if basic_password_env:
        raise AuthError("--basic-password-env needs --basic-user")
    if smart.get("client_id"):
        from .push.smart import SmartBackendAuth

        if not smart.get("key_file"):
            raise AuthError("--smart-client-id needs --smart-key-file (the private key, PEM)")
        return SmartBackendAuth.from_key_file(
            token_url=smart.get("token_url"), client_id=smart["client_id"], key_file=smart["key_file"],
            scope=smart.get("scope") or "system/*.write system/*.read", kid=smart.get("kid"),
            alg=smart.get("alg") or "RS384")
    return None


def push_command(
    paths: Annotated[list[Path], typer.Argument(help="Bundle files (.json, .ndjson) or directories of them.",
                                                show_default=False, metavar="PATH")],
    server: Annotated[str, typer.Option("--server", metavar="URL",
                                        help="FHIR R4 base URL, e.g. https://example.org/fhir",
                                        envvar="FHIRCONV_PUSH_SERVER")],
    token_env: Annotated[str | None, typer.Option(
        "--token-env", metavar="NAME", help="Bearer token from this environment variable.")] = None,
    token_file: Annotated[Path | None, typer.Option(
        "--token-file", metavar="PATH", help="Bearer token from this file.")] = None,
    basic_user: Annotated[str | None, typer.Option("--basic-user", metavar="USER",
                                                   help="HTTP basic auth user.")] = None,
    basic_password_env: Annotated[str | None, typer.Option(
        "--basic-password-env", metavar="NAME", help="HTTP basic auth password from this environment variable.")
    ] = None,
    smart_client_id: Annotated[str | None, typer.Option(
        "--smart-client-id", help="SMART backend services: client id.")] = None,
    smart_key_file: Annotated[Path | None, typer.Option(
        "--smart-key-file", metavar="PATH", help="SMART backend services: private key (PEM).")] = None,
    smart_token_url: Annotated[str | None, typer.Option(
        "--smart-token-url", help="SMART token endpoint (default: from [base]/.well-known/smart-configuration).")
    ] = None,
    smart_scope: Annotated[str | None, typer.Option("--smart-scope", help="SMART scopes to request.")] = None,
    smart_kid: Annotated[str | None, typer.Option("--smart-kid", help="SMART: key id of the JWKS entry.")] = None,
    smart_alg: Annotated[str | None, typer.Option("--smart-alg", help="SMART: RS384 (default) or ES384.")] = None,
    ca_bundle: Annotated[Path | None, typer.Option("--ca-bundle", metavar="PATH",
                                                   help="Trust this CA bundle (PEM).")] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Disable TLS certificate verification.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Skip what the journal shows as written.")] = False,
    journal: Annotated[Path | None, typer.Option(
        "--journal", metavar="PATH", help="Write-ahead journal (default: .fhirconv-journal/push-<server hash>.jsonl)."
    )] = None,
    no_journal: Annotated[bool, typer.Option("--no-journal", help="Keep no journal (no --resume).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and show what would be sent; write nothing.")
                       ] = False,
    verify: Annotated[bool, typer.Option("--verify", help="Read back every written resource and compare.")] = False,
    isolate_failures: Annotated[bool, typer.Option(
        "--isolate-failures", help="A transaction refused for its data is bisected: every good entry is "
        "written and each bad one listed (as bulk loaders do).")] = False,
    max_entries: Annotated[int | None, typer.Option(
        "--max-entries", min=1, help="Entries per transaction (default 50, 8 with --mode conditional: what "
        "Medplum, AWS, Azure and HAPI all accept).")] = None,
    max_bytes: Annotated[int, typer.Option("--max-bytes", min=1024, help="Bytes per transaction.")] = 1 << 20,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64, help="Transactions in flight.")] = 1,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Read timeout, seconds.")] = 60.0,
    connect_timeout: Annotated[float, typer.Option("--connect-timeout", min=0.1, help="Connect timeout, seconds.")
                               ] = 10.0,
    max_attempts: Annotated[int, typer.Option("--max-attempts", min=1, help="Tries per request, in all.")] = 6,
    mode: Annotated[Mode, typer.Option("--mode", help="put: PUT to deterministic ids (default); conditional: "
                                       "conditional create on identifiers.")] = Mode.put,
    bundle_type: Annotated[BundleType, typer.Option("--bundle-type", help="auto: transaction when the server "
                                                    "supports it, else batch.")] = BundleType.auto,
    no_tag: Annotated[bool, typer.Option("--no-tag", help="Do not tag resources with the run id.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    backoff_base: Annotated[float, typer.Option("--backoff-base", hidden=True)] = 0.5,
    backoff_cap: Annotated[float, typer.Option("--backoff-cap", hidden=True)] = 30.0,
    max_wait: Annotated[float, typer.Option("--max-wait", hidden=True)] = 120.0,
) -> None:
    """Push FHIR R4 bundles to a server: idempotent (PUT to fixed ids), resumable, retried.

    Exit status: 0 all written, 1 partly written, 2 rejected data, 3 auth failure,
    4 server or transport failure.
    """
    smart = {"client_id": smart_client_id, "key_file": smart_key_file, "token_url": smart_token_url,
             "scope": smart_scope, "kid": smart_kid, "alg": smart_alg}
    try:
        auth = _auth(token_env, token_file, basic_user, basic_password_env, smart)
    except AuthError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(EXIT_AUTH) from None
    if resume and no_journal:
        _err("error: --resume needs the journal; drop --no-journal")
        raise typer.Exit(EXIT_REJECTED)
    progress = None if quiet else _err
    try:
        client = FhirClient(server, auth=auth, timeout=timeout, connect_timeout=connect_timeout,
                            verify=not insecure, ca_bundle=ca_bundle, max_attempts=max_attempts,
                            backoff_base=backoff_base, backoff_cap=backoff_cap, max_wait=max_wait,
                            mode=mode.value, bundle_type=bundle_type.value, tag=not no_tag, progress=progress)
    except PushError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(EXIT_AUTH if isinstance(exc, AuthError) else EXIT_SERVER) from None
    journal_path = None if no_journal else (journal or default_journal_path(client.base_url))
    with client:
        try:
            report = client.push_files(paths, journal=journal_path, resume=resume, dry_run=dry_run, verify=verify,
                                       max_entries=max_entries, max_bytes=max_bytes, concurrency=concurrency,
                                       validator=_full_validator() if dry_run else None,
                                       isolate_failures=isolate_failures)
        except JournalError as exc:
            _err(f"error: {exc}")
            raise typer.Exit(EXIT_REJECTED) from None
        except KeyboardInterrupt:
            where = f" --journal {journal_path}" if journal_path is not None else ""
            _err(f"interrupted: run the same command with --resume{where} to write what is missing")
            raise typer.Exit(130) from None
    if as_json:
        data = report.to_dict()
        if journal_path is not None and not dry_run:
            data["journal"] = str(journal_path)
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        typer.echo(report.summary())
        if journal_path is not None and not dry_run and report.exit_code not in (0,):
            typer.echo(f"journal: {journal_path} (run again with --resume to write what is missing)")
    raise typer.Exit(report.exit_code)


def _full_validator() -> Callable[[dict[str, Any]], list[str]]:
    """What ``fhirconv validate`` checks, for each resource a dry run would send (imported only then:
    a real push needs none of the validator's tables)."""
    from .model import Severity
    from .validate import validate_resource

    def check(resource: dict[str, Any]) -> list[str]:
        return [f"{i.location}: {i.message}" for i in validate_resource(resource, foreign=True)
                if i.severity in (Severity.ERROR, Severity.FATAL)]

    return check


def register(app: typer.Typer) -> None:
    """Add the ``push`` command to ``app``."""
    app.command("push")(push_command)


def main(argv: list[str] | None = None) -> None:
    """Run ``push`` alone (``python -m fhirconv.cli_push FILE... --server URL``)."""
    app = typer.Typer(add_completion=False)
    register(app)

    @app.callback()
    def _root() -> None:
        """fhirconv push."""

    app(args=["push", *(sys.argv[1:] if argv is None else argv)], prog_name="fhirconv")


if __name__ == "__main__":
    main()
