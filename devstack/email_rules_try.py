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

from orderhub import mime
from orderhub.errors import ConfigError
from orderhub.sources import email, rules_try


def report(rules: email.Rules, path: Path, *, text: bool = False) -> bool:
    mail = mime.parse(path.read_bytes())
    found = rules_try.read(rules, mail)  # the CRM app's /services/try reads the same
    print(f"== {path.name}")
    print(f"  from     {found.sender}  {'matches' if found.sender_ok else 'does NOT match'}")
    print(f"  subject  {found.subject}  {'matches' if found.subject_ok else 'does NOT match'}")
    print(f"  body     {found.body}")
    if text:
        _print_text(mail)
    if not found.matches:
        print("  → not this service's order mail: gmail_ingest would ignore it")
        return False
    if found.layout is not None:
        print(f"  layout   {found.layout or 'none fits'}")
    if len(found.orders) > 1:
        print(f"  orders   {len(found.orders)} in this mail, each read from its own block")
    for order in found.orders:
        _print_order(order)
    return found.complete


def _print_text(mail: mime.Mail) -> None:
    """The mail as the rules' regexes see it, one numbered line each."""
    try:
        lines = rules_try.text_lines(mail)
    except ValueError as exc:
        print(f"  text     cannot be read: {exc}")
        return
    print("  text     what `regex` specs search (^ and $ match at each line):")
    for number, line in enumerate(lines, start=1):
        print(f"    {number:4} | {line}")


def _print_order(order: rules_try.OrderRead) -> None:
    if order.blocks > 1:
        print(f"  -- order {order.block} of {order.blocks}")
    for name, value in order.fields.items():
        print(f"  {name:14} {value if value is not None else '-- not found'}")
    print(f"  line_items     {len(order.line_items)}")
    for quantity, title, price in order.line_items:
        print(f"    {quantity} × {title}  @ {price}")
    if order.complete:
        print("  → complete: gmail_ingest would publish order.created")
    else:
        print("  → incomplete: gmail_ingest would quarantine it because:")
        for problem in order.problems:
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
