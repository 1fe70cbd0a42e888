"""The ``Example::`` blocks in the docstrings of the pure arithmetic run as doctests.

Each module must keep at least one example: a module whose examples vanish fails here too.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = (
    "channels.mcs",  # MCS lookup, slot geometry / TB size, channel uses <-> bits, Shannon, Eb/N0
    "mtgc_link.codecs.mtgc.budget",  # the bit-budget table cells
    "mtgc_link.link",  # Budget: label, channel_uses, payload_bits
    "mtgc_link.plots",  # mean_ci, wilson, metric_label
    "mtgc_link.codecs.base",  # coerce_settings
    "mtgc_link.cli.codec",  # strict JSON for rd --json
    "mtgc_link.codecs.sandbox",  # failure reasons without memory addresses
    "mtgc_link.sweep.grid",  # derive_seed
    "mtgc_link.sweep.store",  # safe_name
    "mtgc_link.sweep.reference",  # shannon_bits, capacity_bits_for
)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test, out=report.append)
    failed, attempted = runner.summarize(verbose=False)
    assert attempted > 0, f"{name} has no docstring examples left (expected Example:: blocks with >>>)"
    assert failed == 0, f"{failed} of {attempted} doctest examples of {name} failed:\n" + "".join(report)
