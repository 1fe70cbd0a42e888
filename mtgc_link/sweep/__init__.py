"""Sweeps: a YAML config -> a grid of end-to-end link runs -> a results table -> figures.

Usage (docs/experiments.md)::

    from mtgc_link.sweep import load_config, run_sweep

    res = run_sweep(load_config("experiments/configs/demo.yaml"), "results/demo", workers=2)
    res.table  # pandas.DataFrame, one row per (codec, channel, SNR, budget, MCS, image, trial)
"""

from mtgc_link.sweep.config import ConfigError, SweepConfig, load_config, parse_config
from mtgc_link.sweep.runner import SweepResult, run_sweep
from mtgc_link.sweep.store import VOLATILE_COLUMNS, load_results

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
