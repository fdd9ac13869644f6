"""``lenadex sandbox``: the EHR stand-in on the command line.

    lenadex sandbox patients                         the synthetic patients, their stories and hooks
    lenadex sandbox fire moderate-renal --hook order-select [--url http://127.0.0.1:8080]
    lenadex sandbox fire moderate-renal --hook order-sign --fetch      no prefetch: the service
                                                     fetches from a stand-in FHIR server
    lenadex sandbox fire low-platelets --hook patient-view --json      the raw response

``fire`` does what an EHR does: discovery (GET {url}/cds-services) to find the service for the
hook, then the hook call with the patient's record as prefetch — or, with ``--fetch``, without
prefetch and with ``fhirServer`` pointing at a StandInFhirServer started here on 127.0.0.1
that serves the patient's record, so the service's fetching is exercised. The cards are
printed as an EHR shows them: critical first, coloured by indicator, detail as Markdown,
suggestions with their actions, the rule ids that produced them.

Heavy imports (rich, requests, the catalogue) happen inside the commands, so that ``lenadex
serve`` does not pay for them.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

DEFAULT_URL = "http://127.0.0.1:8080"
HOOK_CHOICES = ("order-select", "order-sign", "patient-view")
INDICATOR_STYLES = {"critical": "bold red", "warning": "bold yellow", "info": "bold blue"}
INDICATOR_ORDER = {"critical": 0, "warning": 1, "info": 2}


class SandboxError(Exception):
    """Something the user can fix (wrong URL, unknown patient, service down): one line, exit 2."""


# --- argument parsing ------------------------------------------------------------------------


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> argparse.ArgumentParser:
    """Add ``sandbox`` with its subcommands to the ``lenadex`` command."""
    parser = subparsers.add_parser(
        "sandbox",
        help="the EHR stand-in: list the synthetic patients, fire hooks, print the cards",
        description="The EHR stand-in: synthetic patients, hook calls, cards in the terminal.",
    )
    _add_commands(parser)
    parser.set_defaults(run=run)
    return parser


def _add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="sandbox_command", required=True, metavar="{patients,fire}")

    listing = commands.add_parser("patients", help="list the synthetic patients (slug, story, hooks)")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    listing.set_defaults(sandbox_run=list_patients)

    fire = commands.add_parser("fire", help="fire a hook for a patient at a CDS service and print the cards")
    fire.add_argument("slug", help="the patient (see `lenadex sandbox patients`)")
    fire.add_argument("--hook", required=True, choices=HOOK_CHOICES)
    fire.add_argument("--url", default=DEFAULT_URL, help=f"the service's base URL (default {DEFAULT_URL})")
    fire.add_argument(
        "--fetch",
        action="store_true",
        help="send no prefetch: start a stand-in FHIR server with the patient's record and let "
        "the service fetch from it",
    )
    fire.add_argument("--service", help="the service id to call (default: the one discovery lists for the hook)")
    fire.add_argument("--json", action="store_true", help="print the raw response JSON")
    fire.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the service (default 30)")
    fire.set_defaults(sandbox_run=fire_hook)


def main(argv: list[str] | None = None, *, console: "Console | None" = None) -> int:
    """``python -m sandbox.cli …`` (the same as ``lenadex sandbox …``)."""
    parser = argparse.ArgumentParser(prog="lenadex sandbox", description=__doc__.split("\n\n")[0])
    _add_commands(parser)
    return run(parser.parse_args(argv), console=console)


def run(args: argparse.Namespace, *, console: "Console | None" = None) -> int:
    """Run a parsed ``sandbox`` command; a SandboxError becomes one red line and exit code 2."""
    console = console or _console()
    try:
        return int(args.sandbox_run(args, console))
    except SandboxError as error:
        _console(stderr=True).print(f"[bold red]lenadex sandbox:[/] {error}", highlight=False)
        return 2


def _console(*, stderr: bool = False) -> "Console":
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


# --- lenadex sandbox patients ------------------------------------------------------------------


def list_patients(args: argparse.Namespace, console: "Console") -> int:
    from rich.table import Table

    from sandbox.catalogue import PATIENTS

    if args.json:
        rows = [{"slug": p.slug, "story": p.story, "hooks": list(p.hooks)} for p in PATIENTS.values()]
        print(json.dumps({"patients": rows}, ensure_ascii=False, indent=2), file=console.file)
        return 0
    table = Table(title=f"Sandbox patients ({len(PATIENTS)}, all synthetic)", show_lines=True, expand=True)
    table.add_column("slug", style="bold cyan", no_wrap=True)
    table.add_column("story", ratio=1)
    table.add_column("hooks", no_wrap=True)
    for story in PATIENTS.values():
        table.add_row(story.slug, story.story, "\n".join(story.hooks))
    console.print(table)
    console.print("Fire one: [bold]lenadex sandbox fire moderate-renal --hook order-select[/]")
    return 0


# --- lenadex sandbox fire --------------------------------------------------------------------


def fire_hook(args: argparse.Namespace, console: "Console") -> int:
    from rich.text import Text

    from sandbox.catalogue import PATIENTS

    story = PATIENTS.get(args.slug)
    if story is None:
        raise SandboxError(f"unknown patient {args.slug!r}; `lenadex sandbox patients` lists them")
    if args.hook not in story.hooks:
        raise SandboxError(f"{args.slug} is written for {', '.join(story.hooks)}, not {args.hook}")
    base_url = args.url.rstrip("/")
    service_id = args.service or _discover(base_url, args.hook, args.timeout)
    fetched: list[dict[str, Any]] | None = None
    if args.fetch:
        status, body, fetched = _fire_with_fhir_server(args, base_url, service_id)
    else:
        status, body = _fire_with_prefetch(args, base_url, service_id)
    if args.json:
        if isinstance(body, (dict, list)):
            # Plain print, not rich: the output must stay valid JSON for jq and friends.
            print(json.dumps(body, ensure_ascii=False, indent=2), file=console.file)
        else:
            print(body, file=console.file)
        return 0 if status == 200 else 1
    how = (
        f"without prefetch; the service made {len(fetched)} request(s) to the stand-in FHIR server"
        if fetched is not None
        else "with prefetch"
    )
    console.rule(f"[bold]{args.hook}[/] for [bold cyan]{args.slug}[/] → {service_id} ({how})")
    for seen in fetched or []:
        query = f"?{seen['query'][:60]}…" if len(seen["query"]) > 60 else (f"?{seen['query']}" if seen["query"] else "")
        console.print(Text(f"  fetched GET {seen['path']}{query}", style="dim"))
    if status != 200:
        _print_error(console, status, body)
        return 1
    print_cards(console, body)
    return 0


def _discover(base_url: str, hook: str, timeout: float) -> str:
    import requests

    url = f"{base_url}/cds-services"
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as error:
        raise SandboxError(f"cannot reach {url}: {error.__class__.__name__} (is `lenadex serve` running?)") from None
    if response.status_code != 200:
        raise SandboxError(f"discovery at {url} answered HTTP {response.status_code}")
    try:
        services = response.json()["services"]
    except (ValueError, KeyError, TypeError):
        raise SandboxError(f"discovery at {url} did not answer a CDS Hooks service list") from None
    for service in services:
        if isinstance(service, dict) and service.get("hook") == hook and service.get("id"):
            return str(service["id"])
    raise SandboxError(f"{url} offers no service for the {hook} hook")


def _fire_with_prefetch(args: argparse.Namespace, base_url: str, service_id: str) -> tuple[int, Any]:
    from sandbox.catalogue import hook_request

    return _post(f"{base_url}/cds-services/{service_id}", hook_request(args.slug, args.hook), args.timeout)


def _fire_with_fhir_server(
    args: argparse.Namespace, base_url: str, service_id: str
) -> tuple[int, Any, list[dict[str, Any]]]:
    """The call an EHR without prefetch makes: the service fetches the record from fhirServer
    with the bearer token of fhirAuthorization (the stand-in refuses any other token)."""
    from sandbox.catalogue import fhir_resources
    from sandbox.fhir_server import StandInFhirServer

    token = secrets.token_urlsafe(24)
    server = StandInFhirServer(fhir_resources(args.slug), required_token=token)
    with _quiet_werkzeug():
        running = server.start("127.0.0.1", 0)
        try:
            status, body = _post_to_service(args, base_url, service_id, running.base_url, token)
        finally:
            running.stop()
    return status, body, list(server.requests_seen)


def _post_to_service(
    args: argparse.Namespace, base_url: str, service_id: str, fhir_server: str, token: str
) -> tuple[int, Any]:
    from sandbox.catalogue import hook_request

    request = hook_request(args.slug, args.hook, with_prefetch=False, fhir_server=fhir_server)
    request["fhirAuthorization"] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "lenadex-sandbox",
        "patient": args.slug,
    }
    return _post(f"{base_url}/cds-services/{service_id}", request, args.timeout)


@contextmanager
def _quiet_werkzeug() -> Iterator[None]:
    """The stand-in FHIR server would log every request on stderr, amid the cards."""
    logger = logging.getLogger("werkzeug")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _post(url: str, request: dict[str, Any], timeout: float) -> tuple[int, Any]:
    import requests

    try:
        response = requests.post(url, json=request, timeout=timeout)
    except requests.RequestException as error:
        raise SandboxError(f"cannot reach {url}: {error.__class__.__name__}") from None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text[:2000]


# --- cards in the terminal -------------------------------------------------------------------


def sorted_cards(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Critical first, then warning, then info, as EHRs show them (stable within a level)."""
    return sorted(cards, key=lambda card: INDICATOR_ORDER.get(str(card.get("indicator")), 3))


def print_cards(console: "Console", response: dict[str, Any]) -> None:
    from rich.console import Group
    from rich.markdown import Markdown
    from rich.panel import Panel
    from rich.text import Text

    cards = sorted_cards(list(response.get("cards") or []))
    if not cards:
        console.print("[green]No cards:[/] nothing to change for this order.")
    for card in cards:
        indicator = str(card.get("indicator", "info"))
        style = INDICATOR_STYLES.get(indicator, "bold")
        parts: list[Any] = []
        if card.get("detail"):
            parts.append(Markdown(str(card["detail"])))
        for suggestion in card.get("suggestions") or []:
            label = Text("▶ ", style="green")
            label.append(str(suggestion.get("label", "")), style="bold green")
            if suggestion.get("isRecommended"):
                label.append("  (recommended)", style="green")
            parts.append(label)
            for action in suggestion.get("actions") or []:
                line = Text("    ")
                line.append(f"[{action.get('type', '?')}] ", style="magenta")
                line.append(str(action.get("description", "")))
                parts.append(line)
        reasons = [r.get("display") or r.get("code") for r in card.get("overrideReasons") or []]
        if reasons:
            parts.append(Text("Override reasons: " + "; ".join(str(r) for r in reasons), style="dim"))
        footer = Text(str((card.get("source") or {}).get("label", "")), style="dim")
        rules = (card.get("extension") or {}).get("org.lenadex.rules")
        if rules:
            footer.append("   rules: ", style="dim")
            footer.append(", ".join(str(r) for r in rules), style="cyan")
        parts.append(footer)
        summary = Text(str(card.get("summary", "")), style="bold")
        title = Text(f" {indicator.upper()} ", style=style)
        console.print(Panel(Group(summary, *parts), title=title, title_align="left", border_style=style.split()[-1]))
    for action in response.get("systemActions") or []:
        console.print(f"[magenta]system action[/] [{action.get('type')}] {action.get('description', '')}")


def _print_error(console: "Console", status: int, body: Any) -> None:
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        messages = [str(i.get("diagnostics") or i.get("code")) for i in body.get("issue") or []]
        console.print(f"[bold red]HTTP {status}[/]: " + "; ".join(messages), highlight=False)
    else:
        console.print(f"[bold red]HTTP {status}[/]: {str(body)[:500]}", highlight=False)


if __name__ == "__main__":
    sys.exit(main())
