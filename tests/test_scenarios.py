"""Run the matching scenarios of ``tests/scenarios/*.toml`` through the Python API.

The same files are run on every Rust ladder by ``rust/core/tests/scenarios.rs``; the format
is described in ``tests/scenarios/README.md``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

import hftbook as hb

SCENARIO_DIR = Path(__file__).parent / "scenarios"
FILES = sorted(SCENARIO_DIR.glob("*.toml"))
MIN_FILES = 30
#: More levels than any scenario builds.
ALL_LEVELS = 1 << 20
#: On a step repeated more than this many times, invariants are sampled every this many
#: repetitions (and after the last one): ``check_invariants`` is O(orders).
INVARIANT_EVERY = 250

REQUEST_KEYS = {
    "op",
    "note",
    "id",
    "side",
    "price",
    "qty",
    "type",
    "tif",
    "post_only",
    "display_qty",
    "account",
    "stp",
    "repeat",
    "price_step",
}
OUTCOME_KEYS = {
    "order_id",
    "status",
    "reason",
    "filled",
    "remaining",
    "cancelled",
    "error",
    "fills",
    "fill_count",
    "fills_head",
    "fills_tail",
    "cancelled_makers",
}
BOOK_KEYS = {"bids", "asks", "orders"}
SCENARIO_KEYS = {"description", "stp_default", "steps", "final"}

#: Most specific class first: InvalidPrice & co. subclass InvalidOrder.
ERRORS: list[tuple[type[Exception], str]] = [
    (hb.InvalidPrice, "invalid_price"),
    (hb.InvalidQuantity, "invalid_quantity"),
    (hb.DuplicateOrderId, "duplicate_order_id"),
    (hb.UnknownOrder, "unknown_order"),
    (hb.InvalidOrder, "invalid_order"),
]

Fill = tuple[int, int, int, int]


def error_name(e: Exception) -> str:
    for cls, name in ERRORS:
        if isinstance(e, cls):
            return name
    raise e


def fill_tuple(f: dict[str, int]) -> Fill:
    unknown = set(f) - {"maker", "taker", "price", "qty"}
    assert not unknown, f"unknown fill keys {sorted(unknown)}"
    return (f["maker"], f["taker"], f["price"], f["qty"])


def outcome_from_report(r: Any) -> dict[str, Any]:
    return {
        "order_id": r.order_id,
        "status": r.status,
        "reason": r.reason,
        "filled": r.filled_qty,
        "remaining": r.remaining_qty,
        "cancelled": r.cancelled_qty,
        "error": None,
        "fills": [(f.maker_id, f.taker_id, f.price_ticks, f.qty) for f in r.fills],
        # self_trade_cancels also lists the incoming order itself when STP cancelled it;
        # cancelled_makers are the resting orders only.
        "cancelled_makers": [oid for oid, _qty in r.self_trade_cancels if oid != r.order_id],
    }


def outcome_from_error(e: Exception) -> dict[str, Any]:
    name = error_name(e)
    return {
        "order_id": None,
        "status": "rejected",
        "reason": "unknown_order" if name == "unknown_order" else None,
        "filled": 0,
        "remaining": 0,
        "cancelled": 0,
        "error": name,
        "fills": [],
        "cancelled_makers": [],
    }


def apply(book: Any, step: dict[str, Any], oid: int, price: int | None) -> dict[str, Any]:
    """Run one repetition of a step's operation."""
    op = step["op"]
    try:
        if op == "submit":
            kwargs: dict[str, Any] = {
                "qty": step["qty"],
                "order_type": step.get("type", "limit"),
                "post_only": step.get("post_only", False),
                "account": step.get("account", 0),
                "order_id": oid or None,
            }
            if price is not None:
                kwargs["price_ticks"] = price
            for key in ("tif", "stp"):
                if key in step:
                    kwargs[key] = step[key]
            if step.get("display_qty"):
                kwargs["display_qty"] = step["display_qty"]
            return outcome_from_report(book.submit(step["side"], **kwargs))
        if op == "cancel":
            return outcome_from_report(book.cancel(oid))
        if op == "modify":
            return outcome_from_report(book.modify(oid, price_ticks=price, qty=step.get("qty")))
    except (hb.InvalidOrder, hb.UnknownOrder) as e:
        return outcome_from_error(e)
    raise AssertionError(f"unknown op {op!r}")


def check_outcome(step: dict[str, Any], got: dict[str, Any]) -> list[str]:
    diffs: list[str] = []

    def cmp(what: str, want: Any, have: Any) -> None:
        if want != have:
            diffs.append(f"{what}: expected {want!r}, got {have!r}")

    if "error" not in step and got["error"] is not None:
        diffs.append(f"unexpected error {got['error']!r}")
    for key in ("error", "status", "reason", "filled", "remaining", "cancelled"):
        if key in step:
            cmp(key, step[key], got[key])
    if "order_id" in step:
        cmp("order_id", step["order_id"], got["order_id"])
    fills = got["fills"]
    if "fills" in step:
        cmp("fills", [fill_tuple(f) for f in step["fills"]], fills)
    if "fill_count" in step:
        cmp("fill_count", step["fill_count"], len(fills))
    if "fills_head" in step:
        head = [fill_tuple(f) for f in step["fills_head"]]
        cmp("fills_head", head, fills[: len(head)])
    if "fills_tail" in step:
        tail = [fill_tuple(f) for f in step["fills_tail"]]
        cmp("fills_tail", tail, fills[len(fills) - min(len(tail), len(fills)) :])
    if "cancelled_makers" in step:
        cmp("cancelled_makers", step["cancelled_makers"], got["cancelled_makers"])
    traded = sum(f[3] for f in fills)
    if got["error"] is None and traded != got["filled"]:
        diffs.append(f"fills add up to {traded} but filled is {got['filled']}")
    return diffs


def book_state(book: Any) -> dict[str, list[list[Any]]]:
    depth = book.depth(ALL_LEVELS)

    def levels(arr: Any) -> list[list[Any]]:
        return [[int(r["price_ticks"]), int(r["qty"]), int(r["orders"])] for r in arr]

    orders = [
        [int(r["order_id"]), side, int(r["price_ticks"]), int(r["qty"])]
        for side in ("buy", "sell")
        for r in book.orders(side)
    ]
    return {"bids": levels(depth.bids), "asks": levels(depth.asks), "orders": orders}


def check_book(book: Any, want: dict[str, Any]) -> list[str]:
    keys = [k for k in ("bids", "asks", "orders") if k in want]
    if not keys:
        return []
    have = book_state(book)
    return [
        f"{k}: expected {want[k]!r}, got {have[k]!r}"
        for k in keys
        if [list(row) for row in want[k]] != have[k]
    ]


def run_scenario(sc: dict[str, Any]) -> None:
    unknown = set(sc) - SCENARIO_KEYS
    assert not unknown, f"unknown scenario keys {sorted(unknown)}"
    book = hb.OrderBook(
        "TEST", tick_size="1", lot_size=1, stp_default=sc.get("stp_default"), clock="manual"
    )
    now = 1
    for i, step in enumerate(sc["steps"], start=1):
        unknown = set(step) - REQUEST_KEYS - OUTCOME_KEYS - BOOK_KEYS
        assert not unknown, f"step {i}: unknown keys {sorted(unknown)}"
        label = f"step {i} ({step['op']}" + (f" {step['note']!r})" if "note" in step else ")")
        repeat = step.get("repeat", 1)
        assert repeat >= 1, f"{label}: repeat must be at least 1"
        base_id = step.get("id", 0)
        for k in range(repeat):
            oid = base_id + k if base_id else 0
            price = step.get("price")
            if price is not None:
                price += step.get("price_step", 0) * k
            now += 1
            book.set_time(now)
            at = f"{label} repetition {k + 1}/{repeat}" if repeat > 1 else label
            got = apply(book, step, oid, price)
            diffs = check_outcome(step, got)
            if repeat <= INVARIANT_EVERY or k % INVARIANT_EVERY == 0 or k + 1 == repeat:
                try:
                    book.check_invariants()
                except hb.HftbookError as e:
                    diffs.append(f"invariant broken: {e}")
            if diffs:
                pytest.fail(f"{at}: " + "; ".join(diffs), pytrace=False)
        diffs = check_book(book, step)
        if diffs:
            pytest.fail(f"{label}: book after the step: " + "; ".join(diffs), pytrace=False)
    final = sc.get("final", {})
    unknown = set(final) - BOOK_KEYS
    assert not unknown, f"unknown keys in [final]: {sorted(unknown)}"
    diffs = check_book(book, final)
    if diffs:
        pytest.fail("final book: " + "; ".join(diffs), pytrace=False)


def test_scenario_files_exist_and_document_their_rule() -> None:
    assert len(FILES) >= MIN_FILES, f"only {len(FILES)} scenario files in {SCENARIO_DIR}"
    for f in FILES:
        text = f.read_text()
        assert text.startswith("#"), f"{f.name}: must open with a header comment"
        assert tomllib.loads(text).get("steps"), f"{f.name}: no steps"


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_scenario(path: Path) -> None:
    with path.open("rb") as fh:
        run_scenario(tomllib.load(fh))
