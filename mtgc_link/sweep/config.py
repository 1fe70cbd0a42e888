"""The sweep configuration: one YAML file, validated on load (pydantic, unknown keys rejected).

Errors name the path of the offending value, e.g. ``codecs.1.setings: Extra inputs are not permitted``, one
line each. Everything that would fail later is checked here: numbers are finite (no ``.nan``, ``.inf``) and
in range, codec settings are checked against the codec (``SourceCodec.check_settings``, which loads no
models), channels and the PHY are built once, and duplicate SNRs, budgets, metrics or labels are refused.
See docs/experiments.md for every field and experiments/configs/*.yaml for examples.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from channels.config import ABSTRACTION_DECODER, PHY_MODES, SNR_DB_RANGE, ChannelConfig, PhyConfig
from channels.mcs import MAX_MCS_INDEX
from channels.models import check_channel_model
from mtgc_link.link import Budget
from mtgc_link.transport import (
    DEFAULT_HEADER_OFFSET,
    DEFAULT_SEMANTIC_OFFSET,
    PROTECTIONS,
    UepMcs,
    lowest_mcs,
)


class ConfigError(ValueError):
    """A sweep config that cannot be used; the message names the path of each bad value."""


#: Seeds (``seed``, ``mcs.adaptive.seed``) are integers in this range (the CLI's ``--seed`` too).
SEED_RANGE = (0, 2**32 - 1)
#: Transmissions per transport block a ``harq_max_tx`` value may allow (the CLI's ``--harq-max-tx`` too).
HARQ_MAX_TX_RANGE = (1, 16)


class _Strict(BaseModel):
    # allow_inf_nan=False: every float refuses .nan and .inf ("Input should be a finite number").
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _errors_at(
    loc: tuple, errors: list[tuple[tuple, str, Any]], title: str = "SweepConfig"
) -> ValidationError:
    """A ValidationError whose errors lie at ``loc`` + each error's own location (pydantic prefixes the path
    of the enclosing field), with ``msg`` as given."""
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(
                type=PydanticCustomError("invalid", "{reason}", {"reason": msg}),
                loc=(*loc, *sub),
                input=value,
            )
            for sub, msg, value in errors
        ],
    )


def _relocated(exc: ValidationError, loc: tuple) -> ValidationError:
    """``exc`` (e.g. from building a ChannelConfig or PhyConfig) with its errors moved under ``loc``."""
    return _errors_at(loc, [(tuple(e["loc"]), _message(e), e.get("input")) for e in exc.errors()])


def _message(err: dict) -> str:
    """An error's message on one line, without pydantic's "Value error, " prefix."""
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return " ".join(msg.split())


class ImagesConfig(_Strict):
    """Which images. source: "demo" (scikit-image's bundled photos), a folder, or a glob pattern.

    resize: downscale so that the longer side is at most this many pixels (None: full size).
    limit: use only the first N images (sorted by name; unreadable files count).
    captions: a JSON file of captions (MTGC sends them as its caption modality); "demo" has its own.
    on_error: what unreadable files do (every file is read before the first row): "rows" (default) names
    them in one warning and gives each of their points a row with decode_status ``image_error``; "refuse"
    stops before any work, naming them. Dumped (hence hashed) only when set, so existing config hashes hold.
    """

    source: str = "demo"
    resize: int | None = Field(None, ge=16)
    limit: int | None = Field(None, ge=1)
    captions: str | None = Field(
        None, description="JSON {image name: caption} for codecs with a caption modality (demo: built in)"
    )
    on_error: Literal["rows", "refuse"] = Field(
        "rows",
        description="unreadable image files: rows (warn, their points get image_error rows) | refuse (stop)",
    )

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if self.on_error == "rows":
            data.pop("on_error", None)
        return data


class CodecConfig(_Strict):
    """A codec and its settings (passed to ``get_codec(name, **settings)``); label names it in plots."""

    name: str
    settings: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None

    @field_validator("name")
    @classmethod
    def _known_codec(cls, v: str) -> str:
        from mtgc_link.codecs import available_codecs

        known = available_codecs()
        if v not in known:
            raise ValueError(f"unknown codec {v!r}; known: {', '.join(known) or 'none'}")
        return v

    @model_validator(mode="after")
    def _settings_valid(self) -> CodecConfig:
        """The settings the codec would refuse, refused now (``codecs.<i>.settings.<key>: ...``); builds no
        models (``SourceCodec.check_settings``)."""
        from mtgc_link.codecs import CODECS
        from mtgc_link.codecs.base import SettingError

        try:
            CODECS.get(self.name).check_settings(dict(self.settings))
        except SettingError as exc:
            loc = ("settings",) if exc.key == "settings" else ("settings", exc.key)
            raise _errors_at(loc, [((), exc.message, self.settings.get(exc.key))], "CodecConfig") from None
        return self

    @property
    def display(self) -> str:
        if self.label:
            return self.label
        if not self.settings:
            return self.name
        return self.name + "(" + ",".join(f"{k}={v}" for k, v in sorted(self.settings.items())) + ")"


class ChannelSpec(_Strict):
    """A channel model with its parameters (the fields of :class:`channels.ChannelConfig`).

    model: a name of the registry ``channels.models.CHANNEL_MODELS`` (the one list of channel models).
    """

    model: str
    profile: str | None = None
    delay_spread_ns: float | None = Field(None, gt=0)
    speed_mps: float | None = Field(None, ge=0)
    carrier_hz: float | None = Field(None, gt=0)
    label: str | None = None

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        return check_channel_model(v)

    @model_validator(mode="after")
    def _buildable(self) -> ChannelSpec:
        try:  # e.g. an unknown TDL/CDL profile: refused here, not at the first row
            ChannelConfig(**self.params())
        except ValidationError as exc:
            raise _relocated(exc, ()) from None
        return self

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude={"label"}).items() if v is not None}

    @property
    def display(self) -> str:
        if self.label:
            return self.label
        if self.model in ("tdl", "cdl"):
            return f"{self.model.upper()}-{(self.profile or 'A').upper()}"
        return self.model.upper() if self.model == "awgn" else self.model.capitalize()


# Fields of channels.PhyConfig that a sweep sets per point, hence not in ``phy``: the channel (from
# ``channels``), the MCS (the MCS policy gives an index; an explicit modulation order + code rate would
# contradict it) and the PHY mode (the ``phy_mode`` axis).
PHY_PER_POINT_FIELDS = ("channel", "mcs_index", "modulation_order", "code_rate", "mode")
# The fields ``phy`` declared itself before it was derived from PhyConfig: always dumped, as then. The fields
# added since (dmrs_length, ldpc_cn_update, max_batch_slots, max_batch_coded_bits) are dumped only when they
# differ from their default, so that the dump of a config that leaves them alone -- hence its config_hash (the
# key of resumed rows) and its MCS threshold cache key -- is what it was.
_PHY_ALWAYS_DUMPED = (
    "num_prbs",
    "subcarrier_spacing_khz",
    "num_ofdm_symbols",
    "dmrs_additional_position",
    "mcs_table",
    "csi",
    "ldpc_iterations",
)

# Types, bounds, checks and defaults are PhyConfig's own (copied field by field, so they live in one place).
_PhySpecFields = create_model(
    "_PhySpecFields",
    __base__=_Strict,
    **{
        name: (field.annotation, copy.copy(field))
        for name, field in PhyConfig.model_fields.items()
        if name not in PHY_PER_POINT_FIELDS
    },
)


class PhySpec(_PhySpecFields):
    """PHY settings shared by every point: the fields of :class:`channels.PhyConfig` with its defaults and
    bounds, except :data:`PHY_PER_POINT_FIELDS` (MCS: from the MCS policy; channel: from ``channels``)."""

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for name, field in type(self).model_fields.items():
            if name not in _PHY_ALWAYS_DUMPED and name in data and getattr(self, name) == field.default:
                del data[name]
        return data


class BudgetSpec(_Strict):
    """One bandwidth budget per image: ``uses``, ``cbr`` or ``prbs`` + ``slots`` (exactly one)."""

    uses: int | None = Field(None, ge=1)
    cbr: float | None = Field(None, gt=0)
    prbs: int | None = Field(None, ge=1, le=275)
    slots: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_kind(self) -> BudgetSpec:
        self.to_budget()  # raises ValueError with the reason
        return self

    def to_budget(self) -> Budget:
        return Budget(uses=self.uses, cbr=self.cbr, prbs=self.prbs, slots=self.slots)


class AdaptiveMcs(_Strict):
    """Adaptive MCS: the highest candidate whose BLER at the point's SNR and channel is <= target_bler.

    Thresholds (the lowest SNR on ``snr_grid_db`` from which BLER stays <= target) are measured once with
    ``blocks`` transport blocks per SNR and cached on disk (see :mod:`mtgc_link.sweep.mcs_policy`).
    Below every threshold the lowest candidate is used.
    """

    target_bler: float = Field(0.1, gt=0, lt=1)
    candidates: list[int] = Field(default_factory=lambda: [3, 5, 7, 9, 11, 14, 17, 20, 24, 27], min_length=1)
    snr_grid_db: list[float] = Field(
        default_factory=lambda: [float(s) for s in range(-6, 31, 2)], min_length=2
    )
    blocks: int = Field(20, ge=1)
    seed: int = Field(1234, ge=SEED_RANGE[0], le=SEED_RANGE[1])

    @field_validator("snr_grid_db")
    @classmethod
    def _snr_grid(cls, v: list[float]) -> list[float]:
        return _check_snrs(v)

    @field_validator("candidates")
    @classmethod
    def _sorted_unique(cls, v: list[int]) -> list[int]:
        if any(c < 0 or c > 28 for c in v):
            raise ValueError("MCS candidates must be in 0..28")
        return sorted(set(v))


class McsPolicy(_Strict):
    """``{fixed: 14}`` or ``{adaptive: {...}}`` (exactly one)."""

    fixed: int | None = Field(None, ge=0, le=28)
    adaptive: AdaptiveMcs | None = None

    @model_validator(mode="after")
    def _one(self) -> McsPolicy:
        if (self.fixed is None) == (self.adaptive is None):
            raise ValueError("give exactly one of fixed: <MCS index> or adaptive: {...}")
        return self

    @property
    def label(self) -> str:
        return (
            f"fixed{self.fixed}"
            if self.fixed is not None
            else f"adaptive(bler<={self.adaptive.target_bler:g})"
        )


class UepMcsSpec(_Strict):
    """MCS of the protected segment classes under ``protection: uep`` (``mtgc_link.transport.UepMcs``).

    header / semantic: an absolute MCS index (of ``phy.mcs_table``), or null: ``header_offset`` /
    ``semantic_offset`` steps below the point's MCS, floored at the lowest MCS the PHY builds. Never above the
    point's MCS. The bulk (HCI, the classical codecs' payload) always rides at the point's MCS. Defaults:
    measured in docs/link.md ("UEP default").
    """

    header: int | None = Field(None, ge=0, le=28)
    semantic: int | None = Field(None, ge=0, le=28)
    header_offset: int = Field(DEFAULT_HEADER_OFFSET, ge=0, le=28)
    semantic_offset: int = Field(DEFAULT_SEMANTIC_OFFSET, ge=0, le=28)

    def to_uep(self) -> UepMcs:
        return UepMcs(self.header, self.semantic, self.header_offset, self.semantic_offset)


# SweepConfig fields added after configs were in use: dumped (hence hashed by ``config_hash``, the key of
# resumed rows) only when they differ from their default, so that a config leaving them alone keeps its hash.
_SWEEP_DUMPED_IF_SET = ("protection", "harq_max_tx", "uep_mcs", "references", "phy_mode")


class SaveImages(_Strict):
    """Decoded images saved for the image grid (trial 0 of each listed SNR; empty list: none)."""

    snr_db: list[float] | None = None  # None: every SNR of the sweep
    max_images: int = Field(2, ge=0)


def _check_snrs(v: list[float]) -> list[float]:
    lo, hi = SNR_DB_RANGE
    bad = [s for s in v if not lo <= s <= hi]
    if bad:
        raise ValueError(f"SNR values must lie in [{lo:g}, {hi:g}] dB, got {bad}")
    dup = sorted({s for s in v if v.count(s) > 1})
    if dup:
        raise ValueError(f"SNR values must be distinct, got {dup} more than once")
    return v


class SweepConfig(_Strict):
    name: str = "sweep"
    images: ImagesConfig = Field(default_factory=ImagesConfig)
    codecs: list[CodecConfig] = Field(min_length=1)
    channels: list[ChannelSpec] = Field(min_length=1)
    phy: PhySpec = Field(default_factory=PhySpec)
    snr_db: list[float] = Field(min_length=1)
    budgets: list[BudgetSpec] = Field(min_length=1)
    mcs: McsPolicy = Field(default_factory=lambda: McsPolicy(fixed=14))
    trials: int = Field(1, ge=1)
    seed: int = Field(0, ge=SEED_RANGE[0], le=SEED_RANGE[1])
    failure_policy: Literal["mean", "gray", "none"] = "gray"
    crc_error: Literal["decode", "drop"] = "decode"
    metrics: list[str] = Field(default_factory=lambda: ["psnr", "ms-ssim"], min_length=1)
    save_images: SaveImages = Field(default_factory=SaveImages)
    decode_cache: bool = True
    protection: list[Literal[PROTECTIONS]] = Field(
        default_factory=lambda: ["equal"],
        min_length=1,
        description="transport protection profiles (a sweep axis): equal | separate | uep (docs/link.md)",
    )
    harq_max_tx: list[int] = Field(
        default_factory=lambda: [1],
        min_length=1,
        description="transmissions allowed per transport block (a sweep axis; 1 = no HARQ)",
    )
    uep_mcs: UepMcsSpec = Field(default_factory=UepMcsSpec)
    phy_mode: list[Literal[PHY_MODES]] = Field(
        default_factory=lambda: ["bit_true"],
        min_length=1,
        description="PHY modes (a sweep axis): bit_true (the NR chain) | abstraction (Sionna SYS link "
        "abstraction, erasures only: needs crc_error drop; docs/performance.md)",
    )
    references: bool = Field(
        True,
        description="reference columns per row: the codec error-free, BPG + capacity, the failure-policy "
        "floor (mtgc_link.sweep.reference; drawn on the quality-vs-SNR figures)",
    )

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for name in _SWEEP_DUMPED_IF_SET:
            default = type(self).model_fields[name].get_default(call_default_factory=True)
            used = name == "uep_mcs" and "uep" in self.protection  # a uep sweep's hash pins its MCSs
            if name in data and getattr(self, name) == default and not used:
                del data[name]
        return data

    @field_validator("protection", "harq_max_tx", "phy_mode")
    @classmethod
    def _distinct(cls, v: list) -> list:
        if len(set(v)) != len(v):
            raise ValueError("values must be distinct")
        return v

    @field_validator("harq_max_tx")
    @classmethod
    def _harq_range(cls, v: list[int]) -> list[int]:
        lo, hi = HARQ_MAX_TX_RANGE
        if any(n < lo or n > hi for n in v):
            raise ValueError(f"harq_max_tx values must lie in {lo}..{hi} (transmissions per transport block)")
        return v

    @field_validator("budgets")
    @classmethod
    def _distinct_budgets(cls, v: list[BudgetSpec]) -> list[BudgetSpec]:
        labels = [b.to_budget().label for b in v]
        dup = {x: [i for i, y in enumerate(labels) if y == x] for x in labels if labels.count(x) > 1}
        if dup:
            which = "; ".join(f"{x} (entries {', '.join(map(str, at))})" for x, at in dup.items())
            raise ValueError(f"duplicate budgets: {which}; each budget would be computed twice")
        return v

    @model_validator(mode="after")
    def _abstraction_models_this(self) -> SweepConfig:
        """The abstraction mode gives erasures only and was calibrated with the default LDPC decoder."""
        if "abstraction" not in self.phy_mode:
            return self
        if self.crc_error == "decode":
            raise _errors_at(
                ("crc_error",),
                [
                    (
                        (),
                        "'decode' needs the bit-true PHY; with phy_mode abstraction use crc_error: drop",
                        "decode",
                    )
                ],
            )
        for name, value in ABSTRACTION_DECODER.items():
            if getattr(self.phy, name) != value:
                msg = f"the abstraction's BLER tables were simulated with {value!r}; use phy_mode bit_true"
                raise _errors_at(("phy", name), [((), msg, getattr(self.phy, name))])
        return self

    @model_validator(mode="after")
    def _mcs_buildable(self) -> SweepConfig:
        """The MCS indices the policy can pick exist in ``phy.mcs_table`` and the PHY builds them (code rate
        >= 1/5); the PHY settings together build a PhyConfig (e.g. DMRS length vs positions)."""
        table = self.phy.mcs_table
        lo, hi = lowest_mcs(table), MAX_MCS_INDEX[table]
        if self.mcs.fixed is not None:
            loc, values = ("mcs", "fixed"), [self.mcs.fixed]
        else:
            loc, values = ("mcs", "adaptive", "candidates"), list(self.mcs.adaptive.candidates)
        bad = [m for m in values if not lo <= m <= hi]
        if bad:
            msg = (
                f"MCS {', '.join(map(str, bad))} cannot be built with phy.mcs_table {table}: use {lo}..{hi} "
                f"(indices up to {hi}; below {lo} the code rate is under 1/5, which the PHY's LDPC lacks)"
            )
            raise _errors_at(loc, [((), msg, bad)])
        try:
            PhyConfig(mcs_index=values[0], **self.phy.model_dump())
        except ValidationError as exc:
            raise _relocated(exc, ("phy",)) from None
        return self

    @model_validator(mode="after")
    def _uep_buildable(self) -> SweepConfig:
        low = None
        for which in ("header", "semantic"):
            absolute = getattr(self.uep_mcs, which)
            if absolute is not None:
                low = lowest_mcs(self.phy.mcs_table) if low is None else low
                if absolute < low:
                    raise ValueError(
                        f"uep_mcs.{which} = {absolute}: the PHY builds MCS {low} and up of table "
                        f"{self.phy.mcs_table} (code rate >= 1/5)"
                    )
        return self

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, v: list[str]) -> list[str]:
        from mtgc_link.metrics import METRICS

        known = METRICS.names()  # registered; one unavailable here is recorded as NaN with its reason
        bad = [m for m in v if m not in known]
        if bad:
            raise ValueError(f"unknown metric(s) {bad}; known: {', '.join(known)}")
        dup = sorted({m for m in v if v.count(m) > 1})
        if dup:
            raise ValueError(f"metrics must be distinct, got {dup} more than once")
        return v

    @field_validator("snr_db")
    @classmethod
    def _finite(cls, v: list[float]) -> list[float]:
        return _check_snrs(v)

    @model_validator(mode="after")
    def _unique_labels(self) -> SweepConfig:
        for what, labels in (
            ("codecs", [c.display for c in self.codecs]),
            ("channels", [c.display for c in self.channels]),
        ):
            dup = {x for x in labels if labels.count(x) > 1}
            if dup:
                raise ValueError(f"{what}: duplicate entries {sorted(dup)}; give each a distinct label")
        return self

    def config_hash(self) -> str:
        """Hash of everything that changes the rows (16 hex digits)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def validation_lines(
    exc: ValidationError, prefix: str = "", names: dict[str, str] | None = None
) -> list[str]:
    """One line per error: ``<path>: <message>``, the path dotted (``codecs.1.settings.method``) and
    prefixed with ``prefix`` (e.g. ``phy.``). ``names`` maps a dotted path to what the user typed instead
    (a CLI option, e.g. ``{"num_prbs": "--num-prbs"}``); an error of the whole model (no path) is put on the
    name whose field its message mentions first."""
    lines = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"])
        msg = _message(err)
        if names:
            if not path:
                found = [(msg.find(f.split(".")[-1]), f) for f in names if f.split(".")[-1] in msg]
                path = min(found)[1] if found else ""
            if path and path not in names:  # a sub-model built on its own: ``speed_mps`` of ChannelConfig
                path = next((f for f in names if f.endswith("." + path)), path)
            label = names.get(path) or (prefix + path if path else "(top level)")
        else:
            label = prefix + path if path else "(top level)"
        lines.append(f"{label}: {msg}")
    return lines


def format_validation_error(exc: ValidationError, source: str) -> str:
    """The message of a :class:`ConfigError`: the source, then one line per error with its config path."""
    return "\n".join([f"invalid sweep config {source}:", *(f"  {line}" for line in validation_lines(exc))])


def parse_config(data: Any, source: str = "<dict>") -> SweepConfig:
    """Validate a mapping as a :class:`SweepConfig`; raise :class:`ConfigError` naming each bad path."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"invalid sweep config {source}: the top level must be a mapping, got {type(data).__name__}"
        )
    try:
        return SweepConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_config(path: str | Path) -> SweepConfig:
    """Load and validate a YAML sweep config.

    A relative ``images.source`` / ``images.captions`` (a folder, glob or file) that does not exist from the
    working directory is read relative to the config file's folder, so that a config runs from anywhere
    (``_config_relative``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep config not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"sweep config {path} is not valid YAML: {exc}") from None
    _config_relative(data, path.parent)
    return parse_config(data, str(path))


def _config_relative(data: Any, folder: Path) -> None:
    """Rewrite, in place, a relative ``images.source`` / ``images.captions`` that matches nothing from the
    working directory but something from ``folder`` (the config file's) to that path, relative to the working
    directory: a config run from the repository root keeps the very string (and hash) it had when its paths
    were written relative to the root, however the config's own path is given. "demo", absolute paths and
    paths found from neither place are left as they are."""
    import glob
    import os

    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, dict):
        return
    for key in ("source", "captions"):
        value = images.get(key)
        if not isinstance(value, str) or value in ("", "demo") or Path(value).expanduser().is_absolute():
            continue
        if Path(value).exists() or glob.glob(value):
            continue
        moved = os.path.abspath(folder / value)
        if Path(moved).exists() or glob.glob(moved):
            try:
                images[key] = os.path.relpath(moved)
            except ValueError:  # another drive (Windows): keep it absolute
                images[key] = moved


def build_phy(phy: PhySpec, channel: ChannelSpec, mcs_index: int, mode: str = "bit_true"):
    """The :class:`channels.PhyConfig` of one point (budget PRBs are applied later by ``Budget``)."""
    return PhyConfig(
        channel=ChannelConfig(**channel.params()), mcs_index=int(mcs_index), mode=mode, **phy.model_dump()
    )
