import subprocess
import sys

import pytest

import hftbook as hb
from hftbook import _core


def test_rust_panic_is_a_python_exception_and_the_interpreter_survives() -> None:
    with pytest.raises(hb.HftbookError, match="deliberate test panic") as info:
        _core._panic_in_core()
    # The one panic policy: an HftbookError that says it is an internal error.
    assert type(info.value) is hb.HftbookError
    assert "internal error in hftbook core" in str(info.value)
    # The interpreter and the extension still work afterwards.
    book = hb.OrderBook("X", tick_size="0.01")
    assert book.submit("buy", price="1.00", qty=1).status == "new"


def test_panic_in_a_child_interpreter_exits_cleanly() -> None:
    code = (
        "import hftbook as hb\n"
        "from hftbook import _core\n"
        "try:\n"
        "    _core._panic_in_core()\n"
        "except hb.HftbookError as e:\n"
        "    print('caught', type(e).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "caught HftbookError" in out.stdout
