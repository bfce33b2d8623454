"""The `elad` command (and `python -m elad`): elad.cli's main, whose own imports take
about half a second; a Ctrl-C during them ends as quietly as one after, not with a
traceback. Nothing has started then, so there is nothing to resume."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from elad.cli import main as cli_main
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
