"""The axes of a sweep, each declared once.

An :class:`Axis` says where its values come from in the config, how it appears in a point's key (its
identity for resume) and in the channel seed, where it nests in the loops, and which results-table column
holds its value. Grid expansion (:mod:`mtgc_link.sweep.grid`), the row keys, the seeds, the rows' axis
columns and the figures' grouping (:mod:`mtgc_link.plots`) all follow from :data:`AXES`:

- a new axis is one :class:`Axis` entry here plus the config field it reads (and the code that uses the
  value); its key and seed parts are left out while it has its default value, so the keys and seeds of
  existing sweeps do not change;
- a figure splits its output by every axis it does not draw (``figures/<axis>=<value>/``) instead of
  averaging over it.

Axis values are what the runner needs: indices into ``config.codecs`` / ``channels`` / ``budgets``, the SNR
in dB, the image name, the trial number. ``derived`` axes are not looped over; their value is computed from
the others (the MCS from the MCS policy at the point's channel and SNR).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mtgc_link.sweep.config import SweepConfig


@dataclass(frozen=True)
class Axis:
    """One dimension of the sweep grid.

    name: the coordinate's name (``Point.coords[name]``). column: the results-table column of its value.
    values(cfg, images): the values looped over (None for a derived axis). nest: loop position, outer first.
    key(cfg, v): the point key's part, None to leave it out. seed(cfg, v): the part entering the channel
    seed, None for none (the codec axis has none: every codec sees the same channel realisations).
    cell(cfg, v): the value written to ``column``. scope: what the axis changes; "source" axes (with the
    payload bits) decide which points share one encoding. refits(cfg, v): True where this value changes
    which encodings fit the budget beyond its payload bits (a protection that sends segments in whole slots
    of their own): such points share an encoding only with points of the same value, budget and MCS.
    config_field: the config field (dotted path) the values come from. Rows are identified by their key, so
    a sweep is *extended* by changing this field (more values, a larger count): a rerun into the same folder
    reuses the rows already computed (:mod:`mtgc_link.sweep.runner`, "extending a sweep"). None: derived.
    """

    name: str
    column: str
    values: Callable[[SweepConfig, Sequence[str]], Sequence[Any]] | None
    nest: int | None
    key: Callable[[SweepConfig, Any], str | None]
    seed: Callable[[SweepConfig, Any], Any] | None
    cell: Callable[[SweepConfig, Any], Any]
    scope: Literal["source", "channel", "transport", "repeat"]
    refits: Callable[[SweepConfig, Any], bool] | None = None
    config_field: str | None = None

    @property
    def derived(self) -> bool:
        return self.values is None


def _budget_label(cfg: SweepConfig, i: int) -> str:
    return cfg.budgets[i].to_budget().label


#: In key order (= seed order): the key is the parts joined by "|".
AXES: tuple[Axis, ...] = (
    Axis(
        "codec",
        "codec",
        lambda cfg, images: range(len(cfg.codecs)),
        0,
        key=lambda cfg, i: cfg.codecs[i].display,
        seed=None,
        cell=lambda cfg, i: cfg.codecs[i].display,
        scope="source",
        config_field="codecs",
    ),
    Axis(
        "channel",
        "channel",
        lambda cfg, images: range(len(cfg.channels)),
        1,
        key=lambda cfg, i: cfg.channels[i].display,
        seed=lambda cfg, i: cfg.channels[i].display,
        cell=lambda cfg, i: cfg.channels[i].display,
        scope="channel",
        config_field="channels",
    ),
    Axis(
        "snr",
        "snr_db",
        lambda cfg, images: [float(s) for s in cfg.snr_db],
        3,
        key=lambda cfg, s: f"{s:g}dB",
        seed=lambda cfg, s: float(s),
        cell=lambda cfg, s: float(s),
        scope="channel",
        config_field="snr_db",
    ),
    Axis(
        "budget",
        "budget",
        lambda cfg, images: range(len(cfg.budgets)),
        2,
        key=_budget_label,
        seed=lambda cfg, i: i,
        cell=_budget_label,
        scope="transport",
        config_field="budgets",
    ),
    Axis(
        "mcs",
        "mcs_index",
        None,  # derived: the MCS policy at (channel, SNR)
        None,
        key=lambda cfg, m: cfg.mcs.label,
        seed=lambda cfg, m: int(m),
        cell=lambda cfg, m: int(m),
        scope="transport",
    ),
    Axis(
        "image",
        "image",
        lambda cfg, images: list(images),
        4,
        key=lambda cfg, name: name,
        seed=lambda cfg, name: name,
        cell=lambda cfg, name: name,
        scope="source",
        config_field="images.limit",
    ),
    Axis(
        "trial",
        "trial",
        lambda cfg, images: range(cfg.trials),
        5,
        key=lambda cfg, t: f"t{t}",
        seed=lambda cfg, t: t,
        cell=lambda cfg, t: t,
        scope="repeat",
        config_field="trials",
    ),
    # Transport axes (docs/link.md). No seed part: every protection and HARQ limit starts from the point's
    # seed. Under "equal" (and for a one-segment codec under any protection) the stream is sent with it, so
    # those rows see the very channel realisation of today's rows; under "separate"/"uep" each segment's group
    # of blocks gets a seed derived from it and the segment kind -- the same for both profiles (the HCI at
    # the channel's MCS sees one realisation under either), other than the equal stream's.
    Axis(
        "protection",
        "protection",
        lambda cfg, images: list(cfg.protection),
        6,
        key=lambda cfg, v: None if v == "equal" else f"prot={v}",
        seed=None,
        cell=lambda cfg, v: v,
        scope="transport",
        refits=lambda cfg, v: v != "equal",
        config_field="protection",
    ),
    Axis(
        "harq_max_tx",
        "harq_max_tx",
        lambda cfg, images: [int(n) for n in cfg.harq_max_tx],
        7,
        key=lambda cfg, n: None if n == 1 else f"harq={n}",
        seed=None,
        cell=lambda cfg, n: int(n),
        scope="transport",
        config_field="harq_max_tx",
    ),
    # The PHY mode: no seed part, so the abstraction sees the very channel realisations of the bit-true rows
    # (channels.abstraction draws them as the bit-true chain does) and the two modes compare point by point.
    Axis(
        "phy_mode",
        "phy_mode",
        lambda cfg, images: list(cfg.phy_mode),
        8,
        key=lambda cfg, v: None if v == "bit_true" else f"phy={v}",
        seed=None,
        cell=lambda cfg, v: v,
        scope="transport",
        config_field="phy_mode",
    ),
)


def axis(name: str) -> Axis:
    for a in AXES:
        if a.name == name:
            return a
    raise KeyError(f"no sweep axis {name!r}; axes: {', '.join(a.name for a in AXES)}")


def loop_axes() -> list[Axis]:
    """The axes looped over, outer to inner."""
    return sorted((a for a in AXES if not a.derived), key=lambda a: a.nest)


def axis_columns() -> list[str]:
    """The results-table columns that hold axis values (what a figure must draw or split by)."""
    return [a.column for a in AXES]
