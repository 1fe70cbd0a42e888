"""Sweeps: a YAML config -> a grid of end-to-end link runs -> a results table -> figures.

Usage (docs/experiments.md)::

    from mtgc_link.sweep import load_config, run_sweep

    res = run_sweep(load_config("experiments/configs/demo.yaml"), "results/demo", workers=2)
    res.table  # pandas.DataFrame, one row per (codec, channel, SNR, budget, MCS, image, trial)
"""

import importlib

# Resolved on first use, so that importing one submodule (the plots read ``sweep.axes`` and
# ``sweep.store``) does not import the runner and everything below it.
_EXPORTS = {
    "ConfigError": "config",
    "SweepConfig": "config",
    "load_config": "config",
    "parse_config": "config",
    "SweepResult": "runner",
    "run_sweep": "runner",
    "VOLATILE_COLUMNS": "store",
    "load_results": "store",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "VOLATILE_COLUMNS",
    "ConfigError",
    "SweepConfig",
    "SweepResult",
    "load_config",
    "load_results",
    "parse_config",
    "run_sweep",
]
