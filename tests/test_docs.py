"""The examples in the package's docstrings run and give what they say."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "hftbook",
        "hftbook.exceptions",
        "hftbook.enums",
        "hftbook.simulate",
        "hftbook.simulate_engine",
        "hftbook.cli",
        "hftbook.cli._base",
        "hftbook.cli.simulate",
        "hftbook.cli.engine",
        "hftbook.cli.replay",
        "hftbook.cli.perf",
        "hftbook.cli.bench",
        "hftbook.cli.audit",
        "hftbook.journal",
        "hftbook.strategy",
        "hftbook.simulation",
        "hftbook.strategies.market_maker",
        "hftbook.strategies.momentum",
        "hftbook.strategies.twap",
        "hftbook.engine",
        "hftbook.engine_run",
        "hftbook.profiling",
        "hftbook.data",
        "hftbook.data.lobster",
        "hftbook.data.mbo",
        "hftbook.data.itch",
    ],
)
def test_docstring_examples(module: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0, f"{module} has no examples"
    assert result.failed == 0, capsys.readouterr().out
