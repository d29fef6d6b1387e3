"""Run Google's OAuth consent for one Gmail account; print the refresh token to store.

Installed-app flow (google-auth-oauthlib): a local web server on this machine receives
the consent's redirect. Use an OAuth client of type "Desktop app" from the Cloud
console; pass its id and secret through ``GMAIL_CLIENT_ID`` / ``GMAIL_CLIENT_SECRET`` or
``--client-secrets client_secret.json``. Store the printed token as the secret
``GMAIL_REFRESH_TOKEN`` (Secret Manager; with ``--send``, the notifier's gmail.send-only grant,
``GMAIL_SEND_REFRESH_TOKEN``); it is never written to a file here.

While the OAuth consent screen is in "Testing", Google expires refresh tokens after
7 days: publish the app ("In production") before relying on the token.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

SCOPES = ["https://www.googleapis.com/auth/gmail.readonly"]
#: ``--send``: the notifier's own grant, for its e-mail fallback; it cannot read mail.
SEND_SCOPES = ["https://www.googleapis.com/auth/gmail.send"]


def client_config(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    if args.client_secrets:
        loaded = json.loads(Path(args.client_secrets).read_text())
        return dict(loaded)
    client_id = os.environ.get("GMAIL_CLIENT_ID", "").strip()
    secret = os.environ.get("GMAIL_CLIENT_SECRET", "").strip()
    if not client_id or not secret:
        sys.exit(
            "gmail_authorize: set GMAIL_CLIENT_ID and GMAIL_CLIENT_SECRET "
            "(an OAuth client of type Desktop app), or pass --client-secrets FILE"
        )
    return {
        "installed": {
            "client_id": client_id,
            "client_secret": secret,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
            "redirect_uris": ["http://localhost"],
        }
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/gmail_authorize", description=__doc__)
    parser.add_argument("--client-secrets", help="the Desktop-app client JSON from the console")
    parser.add_argument("--port", type=int, default=0, help="local redirect port (0: any)")
    parser.add_argument(
        "--send",
        action="store_true",
        help="the notifier's grant (gmail.send only): GMAIL_SEND_REFRESH_TOKEN",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="print the consent URL instead of opening it"
    )
    args = parser.parse_args(argv)
    from google_auth_oauthlib.flow import InstalledAppFlow

    scopes = SEND_SCOPES if args.send else SCOPES
    flow = InstalledAppFlow.from_client_config(client_config(args), scopes=scopes)
    credentials = flow.run_local_server(
        port=args.port,
        open_browser=not args.no_browser,
        access_type="offline",  # ask for a refresh token
        prompt="consent",  # and get a new one even if the account consented before
    )
    if not credentials.refresh_token:
        print(
            "gmail_authorize: Google returned no refresh token; revoke the app's access "
            "at myaccount.google.com/permissions and run again",
            file=sys.stderr,
        )
        return 1
    name = "GMAIL_SEND_REFRESH_TOKEN" if args.send else "GMAIL_REFRESH_TOKEN"
    print(
        f"Store this as the secret {name}, e.g.\n"
        f"  printf %s TOKEN | gcloud secrets versions add {name.lower().replace('_', '-')}"
        " --data-file=-\n"
        "Reminder: while the OAuth app is in 'Testing' this token expires after 7 days.\n",
        file=sys.stderr,
    )
    print(credentials.refresh_token)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
