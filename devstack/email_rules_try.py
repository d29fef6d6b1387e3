"""``scripts/email_rules_try RULES.yaml MAIL.eml ...``: what a rules file reads from a mail.

For writing a new service's rules: prints whether the sender and subject match, every
field extracted (converted: money, E.164 phone, order time), the line items (per order,
for a mail carrying several), and what is missing or inconsistent, i.e. exactly why
gmail_ingest would quarantine the mail. ``--text`` also prints the mail as the rules'
regexes see it, line by line, to write a regex against. Exit status 0 when every mail
parses completely. It prints the mail's personal data to your
terminal, so use it on your own machine only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from orderhub import mime
from orderhub.errors import ConfigError
from orderhub.sources import email


def _show(value: Any) -> str:
    if isinstance(value, dict) and "amount" in value:
        return f"{value['amount']} {value['currency']}"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def report(rules: email.Rules, path: Path, *, text: bool = False) -> bool:
    mail = mime.parse(path.read_bytes())
    print(f"== {path.name}")
    sender_ok, subject_ok = (
        bool(rules.sender.search(mail.sender)),
        bool(rules.subject.search(mail.subject)),
    )
    print(f"  from     {mail.sender}  {'matches' if sender_ok else 'does NOT match'}")
    print(f"  subject  {mail.subject}  {'matches' if subject_ok else 'does NOT match'}")
    print(f"  body     {'text/html' if mail.html else 'text/plain' if mail.text else 'none'}")
    if text:
        _print_text(mail)
    if not (sender_ok and subject_ok):
        print("  → not this service's order mail: gmail_ingest would ignore it")
        return False
    extractions = email.extract_orders(rules, mail)
    if rules.layouts:
        print(f"  layout   {extractions[0].rules.layout or 'none fits'}")
    if len(extractions) > 1:
        print(f"  orders   {len(extractions)} in this mail, each read from its own block")
    for extraction in extractions:
        _print_extraction(rules, extraction)
    return all(e.complete for e in extractions)


def _print_text(mail: mime.Mail) -> None:
    """The mail as the rules' regexes see it, one numbered line each."""
    try:
        body = email.document_text(mail)
    except ValueError as exc:
        print(f"  text     cannot be read: {exc}")
        return
    print("  text     what `regex` specs search (^ and $ match at each line):")
    for number, line in enumerate(body.splitlines(), start=1):
        print(f"    {number:4} | {line}")


def _print_extraction(rules: email.Rules, extraction: email.Extraction) -> None:
    if extraction.blocks > 1:
        print(f"  -- order {extraction.block} of {extraction.blocks}")
    for name in email.SCALAR_FIELDS:
        if name in extraction.values:
            print(f"  {name:14} {_show(extraction.values[name])}")
        elif name in rules.fields:
            print(f"  {name:14} -- not found")
    print(f"  line_items     {len(extraction.line_items)}")
    for line in extraction.line_items:
        print(f"    {line['quantity']} × {line['title']}  @ {_show(line['unit_price'])}")
    if extraction.complete:
        print("  → complete: gmail_ingest would publish order.created")
    else:
        print("  → incomplete: gmail_ingest would quarantine it because:")
        for problem in extraction.problems:
            print(f"    - {problem}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/email_rules_try", description=__doc__)
    parser.add_argument("rules", type=Path, help="a rules file (YAML)")
    parser.add_argument("mails", nargs="+", type=Path, help=".eml files")
    parser.add_argument(
        "--text",
        action="store_true",
        help="also print each mail's text as the rules' regexes see it (to write a regex)",
    )
    args = parser.parse_args(argv)
    try:
        rules = email.load_rules_file(args.rules)
    except ConfigError as exc:
        print(f"rules file is wrong: {exc}", file=sys.stderr)
        return 2
    if rules.authenticated and not rules.domains:
        print(
            "note: the rules name no match.domains: any From domain that match.from admits "
            "and Gmail authenticates is taken as the service's (docs/email-rules.md)",
            file=sys.stderr,
        )
    results = [report(rules, path, text=args.text) for path in args.mails]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
