"""``hftbook audit DIR``: every command and event of an order's life, from a journal.

The same for an account, a client id, a symbol or a time range.

    >>> from hftbook.cli import main
    >>> main(["audit"])
    2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hftbook.cli._base import EXIT_USAGE, Command, UsageError, check_writable, int_at_least
from hftbook.exceptions import JournalError, UnknownSymbol
from hftbook.journal import audit

__all__ = ["AUDIT"]


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", type=Path, help="an engine's journal directory (journal_dir=)")
    p.add_argument("--order", type=int_at_least(1), metavar="ID", help="engine order id")
    p.add_argument("--client-id", type=int_at_least(0), metavar="ID", help="your client id")
    p.add_argument("--account", type=int_at_least(0), metavar="N", help="account")
    p.add_argument("--symbol", metavar="NAME", help="symbol")
    p.add_argument("--start-ns", type=int_at_least(0), metavar="NS", help="engine time from (ns)")
    p.add_argument("--end-ns", type=int_at_least(0), metavar="NS", help="engine time to (ns)")
    p.add_argument("--json", action="store_true", help="print JSON (one object per row)")
    p.add_argument("--out", type=Path, help="write the JSON here instead of printing it")


def _run(args: argparse.Namespace) -> int:
    """0 ok (even with no rows), 2 bad input or a journal that cannot be read."""
    prog = "hftbook audit"
    filters = (args.order, args.client_id, args.account, args.symbol, args.start_ns, args.end_ns)
    if all(f is None for f in filters):
        raise UsageError(
            prog,
            "give at least one of --order, --client-id, --account, --symbol, --start-ns, "
            "--end-ns (see hftbook audit --help)",
        )
    if not (args.dir / "config.toml").is_file():
        raise UsageError(prog, f"{args.dir} is not a journal directory (no config.toml)")
    if args.out is not None:
        try:
            check_writable(args.out)
        except OSError as e:
            raise UsageError(prog, f"cannot write --out {args.out}: {e}") from None
    try:
        trail = audit(
            args.dir,
            order_id=args.order,
            client_id=args.client_id,
            account=args.account,
            symbol=args.symbol,
            start_ns=args.start_ns,
            end_ns=args.end_ns,
        )
    except (JournalError, UnknownSymbol) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.json or args.out is not None:
        text = trail.to_json()
        if args.out is not None:
            args.out.write_text(text + "\n", encoding="utf-8")
        else:
            sys.stdout.write(text + "\n")
        return 0
    rows = trail.rows()
    what = ", ".join(
        f"{k} {v}"
        for k, v in zip(
            ("order", "client id", "account", "symbol", "from ns", "to ns"), filters, strict=True
        )
        if v is not None
    )
    table = Table(title=escape(f"audit of {what}: {len(rows)} row(s) from {args.dir}"))
    for col, just in (
        ("time (s)", "right"),
        ("cmd", "right"),
        ("", "left"),
        ("kind", "left"),
        ("symbol", "left"),
        ("side", "left"),
        ("order", "right"),
        ("price", "right"),
        ("qty", "right"),
        ("leaves", "right"),
        ("reason", "left"),
        ("maker/taker", "left"),
    ):
        table.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
    for r in rows:
        src = "→" if r["source"] == "command" else "←"
        mt = f"{r['maker_id']}/{r['taker_id']}" if r["maker_id"] or r["taker_id"] else ""
        table.add_row(
            f"{r['ts'] / 1e9:.9f}",
            str(r["cmd_seq"]),
            src,
            r["kind"],
            escape(r["symbol"] or ""),
            r["side"] or "",
            str(r["order_id"] or ""),
            r["price"] or "",
            str(r["qty"] or ""),
            str(r["leaves_qty"]) if r["source"] == "event" else "",
            r["reason"],
            mt,
        )
    console = Console()
    if not console.is_terminal:
        # Piped or redirected: wide enough for every figure (numbers are never cut).
        console = Console(width=max(console.width, 160))
    console.print(table)
    if not rows:
        print("no command or event matches", file=sys.stderr)
    return 0


AUDIT = Command(
    name="audit",
    help="every command and event of an order's life (or an account's, a symbol's ...) from "
    "an engine's journal",
    add_arguments=_add_arguments,
    run=_run,
)
