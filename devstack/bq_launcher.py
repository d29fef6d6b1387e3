"""Start bqemulator without DuckDB's spatial (and avro) extensions.

bqemulator 1.4.0 refuses to start unless it can ``INSTALL spatial``, which downloads
the extension; these machines cannot. OrderHub uses no GEOGRAPHY (nor Avro), so the
two loads are skipped and everything else runs unchanged. Runs in the emulator's own
virtualenv (``.venv-bq``); arguments are bqemulator's CLI arguments.
"""

import sys

from bqemulator.storage import engine

engine.DuckDBEngine._load_spatial = lambda self: None  # type: ignore[method-assign]
engine.DuckDBEngine._load_format_extensions = lambda self: None  # type: ignore[method-assign]

from bqemulator.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
