"""The root Typer application; command modules attach their commands to it.

Help texts never list plug-ins by hand: the ``help=`` of an option or argument of a top-level command may
hold ``{codecs}`` or ``{metrics}``, replaced by the names in the registry (``mtgc_link.codecs.CODECS``,
``mtgc_link.metrics.METRICS``) when that command runs or shows its help. Filling them imports the plug-ins,
so it happens only then: ``mtgc-link --help`` (which lists commands, not options) stays as fast as before.

Shared input rules of every command (docs/codecs.md, "Command-line conventions"):

- A refusal is one line on stderr naming the option (``--snr-db: nan is not an SNR in [-50, 80] dB``), exit
  code 2, before any work: click's own usage errors are printed that way too (``RegistryHelpGroup.main``).
- A list option (``multiple``) takes ``--snr-db 0 2 4``, ``--snr-db 0,2,4`` and ``--snr-db 0 --snr-db 2``:
  the numbers that follow such an option are given to it (``expand_list_options``).
- Numbers are checked by :func:`number` (finite, in range) or by the pydantic model they build (PhyConfig:
  :func:`phy_error` names the option of each bad field); seeds are integers in ``SEED_RANGE``.
- Output paths are checked before the work (:func:`check_output_file`, :func:`check_output_dir`): an existing
  folder given as a file, a missing or unwritable parent folder and a path under a file are refused (output
  files: their folder must exist); an output folder (``train --out``) is created with its parents.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

#: Seeds of the CLI (``--seed``) and of sweep configs: integers in this range (sweep.config.SEED_RANGE).
SEED_MIN, SEED_MAX = 0, 2**32 - 1


def _codec_names() -> str:
    from mtgc_link.codecs import available_codecs

    return ", ".join(available_codecs())


def _metric_names() -> str:
    from mtgc_link.metrics import METRICS

    return ", ".join(METRICS.names())


#: Placeholders that help texts of top-level commands may hold -> the registry listing that fills them.
REGISTRY_PLACEHOLDERS: dict[str, Callable[[], str]] = {"{codecs}": _codec_names, "{metrics}": _metric_names}


def fill_registry_help(text: str | None) -> str | None:
    """``text`` with each ``REGISTRY_PLACEHOLDERS`` key replaced by the registered names (comma separated)."""
    if not text or "{" not in text:
        return text
    for key, names in REGISTRY_PLACEHOLDERS.items():
        if key in text:
            try:
                listing = names()
            except Exception as exc:  # a broken plug-in must not hide the help; the message says why
                listing = f"(registry not readable: {type(exc).__name__}: {exc})"
            text = text.replace(key, listing)
    return text


def _is_number_list(token: str) -> bool:
    """True for ``4``, ``-3.5``, ``0,2,4``, ``nan`` (refused later, by the option's check, with its name)."""
    parts = token.split(",")
    try:
        return any(p.strip() for p in parts) and all(float(p) is not None for p in parts if p.strip())
    except ValueError:
        return False


def expand_list_options(command, args: list[str]) -> list[str]:
    """``--snr-db 0 2 4`` -> ``--snr-db 0 --snr-db 2 --snr-db 4`` for the list options (``multiple``) of
    ``command``: the numbers following such an option's value belong to it. Other tokens (paths,
    ``key=value``, options) end the list, and nothing after ``--`` is touched."""
    multi = {
        opt
        for p in getattr(command, "params", ())
        if getattr(p, "param_type_name", "") == "option" and getattr(p, "multiple", False)
        for opt in [*p.opts, *p.secondary_opts]
    }
    if not multi:
        return list(args)
    out: list[str] = []
    current, i = None, 0
    while i < len(args):
        token = args[i]
        if token == "--":
            out.extend(args[i:])
            break
        if current is not None and _is_number_list(token):
            out += [current, token]
            i += 1
            continue
        current = None
        name = token.split("=", 1)[0] if token.startswith("--") else token
        if name in multi:
            current = name
            if "=" in token or i + 1 == len(args):
                out.append(token)
                i += 1
            else:
                out += [token, args[i + 1]]
                i += 2
            continue
        out.append(token)
        i += 1
    return out


def _option_name(param) -> str:
    """The name messages give an option: its longest spelling (``--quality``, not ``-q``)."""
    return max(param.opts, key=len)


def _one_line(exc: Exception) -> str:
    """A click usage error as one line naming the option: ``--seed: -1 is not in the range ...``."""
    param, hint = getattr(exc, "param", None), getattr(exc, "param_hint", None)
    message = getattr(exc, "message", None) or str(exc)
    if hint:
        label = hint if isinstance(hint, str) else " / ".join(hint)
    elif (
        param is not None
        and getattr(param, "param_type_name", "") == "option"
        and type(exc).__name__ != "MissingParameter"  # click says "Missing option '--codec'."
    ):
        label = _option_name(param)
    else:  # an argument, or no parameter: click's own wording ("Missing argument 'out'.")
        label, message = None, exc.format_message()
    line = f"{label}: {message}" if label else message
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        line += f" (see '{ctx.command_path} --help')"
    return " ".join(line.split())


class RegistryHelpGroup(TyperGroup):
    """The root group: fills registry placeholders in the option help of the command it is about to run,
    expands list options (:func:`expand_list_options`) and prints usage errors on one line."""

    def resolve_command(self, ctx, args):
        name, cmd, rest = super().resolve_command(ctx, args)
        for param in cmd.params if cmd is not None else ():
            if isinstance(getattr(param, "help", None), str):
                param.help = fill_registry_help(param.help)
        if cmd is not None and hasattr(cmd, "get_command") and rest:  # a group (`phy`): its subcommand's
            sub = cmd.get_command(ctx, rest[0])
            rest = rest[:1] + expand_list_options(sub, rest[1:]) if sub is not None else rest
        elif cmd is not None:
            rest = expand_list_options(cmd, rest)
        return name, cmd, rest

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except Exception as exc:
            if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
                if type(exc).__name__ == "Abort":
                    typer.echo("Aborted!", err=True)
                    sys.exit(1)
                raise
            if type(exc).__name__ == "NoArgsIsHelpError":  # the help, printed already in rich mode
                text = exc.format_message()
                if text.strip():
                    typer.echo(text, err=True)
            else:
                typer.echo(_one_line(exc), err=True)
            sys.exit(exc.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)


def fail(code: int, message: str) -> typer.Exit:
    """Print a one-line reason on stderr and return the Exit to raise (never a traceback)."""
    typer.echo(" ".join(str(message).split()), err=True)
    return typer.Exit(code)


def bad(option: str, message: str) -> typer.Exit:
    """Exit 2 with ``<option>: <message>`` (a refused argument)."""
    return fail(2, f"{option}: {message}")


def check_number(
    value: Any,
    option: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    unit: str = "",
) -> Any:
    """``value`` if it is a finite number in range (``lo`` excluded when ``lo_open``), else a
    ``typer.BadParameter`` naming ``option``. None passes (an option not given)."""
    import math

    if value is None:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value <= hi
    if not ok:
        u = f" {unit}" if unit else ""
        if lo is not None and hi is not None:
            want = f"in ({lo:g}, {hi:g}]{u}" if lo_open else f"in [{lo:g}, {hi:g}]{u}"
        elif lo is not None:
            want = f"{'>' if lo_open else '>='} {lo:g}{u}"
        elif hi is not None:
            want = f"<= {hi:g}{u}"
        else:
            want = ""
        raise typer.BadParameter(
            f"must be a finite number {want}".rstrip() + f", got {value!r}", param_hint=option
        )
    return value


def number(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, unit: str = ""):
    """An option callback: :func:`check_number` on the value (each value of a list option)."""

    def callback(ctx, param, value):
        option = _option_name(param)
        if isinstance(value, list | tuple):
            return [check_number(v, option, lo, hi, lo_open=lo_open, unit=unit) for v in value]
        return check_number(value, option, lo, hi, lo_open=lo_open, unit=unit)

    return callback


def snr_db(ctx, param, value):
    """Option callback: SNRs (dB) finite and in ``channels.config.SNR_DB_RANGE`` (as in sweep configs)."""
    from channels.config import SNR_DB_RANGE

    lo, hi = SNR_DB_RANGE
    option = _option_name(param)
    if isinstance(value, list | tuple):
        return [check_number(v, option, lo, hi, unit="dB") for v in value]
    return check_number(value, option, lo, hi, unit="dB")


def check_snrs(values: list[float], option: str = "--snr-db", ebno_db: list[float] | None = None) -> None:
    """SNRs (dB) finite and in ``channels.config.SNR_DB_RANGE``; with ``ebno_db`` (the Eb/N0 values the SNRs
    were derived from) the message names the Eb/N0 given."""
    from channels.config import SNR_DB_RANGE

    lo, hi = SNR_DB_RANGE
    for i, v in enumerate(values):
        if ebno_db is None:
            check_number(v, option, lo, hi, unit="dB")
        elif not lo <= v <= hi:
            raise typer.BadParameter(
                f"Eb/N0 {ebno_db[i]:g} dB is an SNR of {v:.3g} dB here, outside [{lo:g}, {hi:g}] dB",
                param_hint=option,
            )


def parse_numbers(values: list[str] | None, option: str, *, integer: bool = False) -> list:
    """Repeated options and comma lists (``["0,2", "4"]``) -> numbers; a token that is not one is refused
    naming ``option``."""
    out: list = []
    for value in values or []:
        for part in str(value).split(","):
            if not part.strip():
                continue
            try:
                out.append(int(part) if integer else float(part))
            except ValueError:
                kind = "an integer" if integer else "a number"
                raise typer.BadParameter(f"{part.strip()!r} is not {kind}", param_hint=option) from None
    return out


def phy_error(exc, names: dict[str, str]) -> typer.Exit:
    """A PhyConfig/ChannelConfig ``ValidationError`` as one line per error naming the option (``names``:
    field path -> option, e.g. ``{"num_prbs": "--num-prbs"}``); returns the Exit (code 2) to raise."""
    from mtgc_link.sweep.config import validation_lines

    for line in validation_lines(exc, names=names):
        typer.echo(line, err=True)
    return typer.Exit(2)


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _cannot_write(option: str, path: Path, why: str) -> typer.Exit:
    return fail(2, f"{option} {path}: cannot write ({why})")


def _check_writable_folder(folder: Path, option: str, target: Path, create: bool) -> None:
    """``folder`` accepts new files (a probe file is made and removed), else exit 2. ``create``: a missing
    ``folder`` is made with its parents; else it must exist."""
    import tempfile

    anc = _nearest_existing(folder)
    if not anc.is_dir():
        raise _cannot_write(option, target, f"{anc} is a file, not a folder")
    if not folder.is_dir() and not create:
        raise _cannot_write(option, target, f"folder {folder} does not exist; create it first")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".mtgc-link-write-test-"):
            pass
    except OSError as exc:
        why = f"folder {folder} is not writable: {exc.strerror or exc}"
        raise _cannot_write(option, target, why) from None


def check_output_file(
    path: Path, option: str, suffixes: tuple[str, ...] | None = None, suffix_help: str | None = None
) -> Path:
    """Refuse, before any work, an output file that cannot be written: an existing folder, a missing or
    unwritable parent folder (it is not created: a refused run leaves nothing behind), a path under a file,
    an existing file that is not writable, or (``suffixes``) a suffix not in the list (``suffix_help`` says
    which instead of listing them). Exit 2 with ``<option> <path>: cannot write (<why>)``."""
    path = Path(path)
    if path.is_dir():
        raise _cannot_write(option, path, "it is a folder; give a file name")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        shown = suffix_help or "one of " + ", ".join(sorted(suffixes))
        raise _cannot_write(option, path, f"the file name must end in {shown}")
    _check_writable_folder(path.parent, option, path, create=False)
    if path.exists() and not os.access(path, os.W_OK):
        raise _cannot_write(option, path, "the file exists and is not writable")
    return path


def check_output_dir(path: Path, option: str) -> Path:
    """Refuse, before any work, an output folder that cannot be used: an existing file, a path under a file,
    an unwritable folder. A missing folder is created with its parents (as ``mkdir -p``)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise _cannot_write(option, path, "it is a file; give a folder")
    _check_writable_folder(path, option, path, create=True)
    return path


app = typer.Typer(
    name="mtgc-link",
    cls=RegistryHelpGroup,
    help="Images over a simulated 5G NR link (Sionna) with generative (MTGC) and classical codecs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Images over a simulated 5G NR link (Sionna) with generative (MTGC) and classical codecs."""


@app.command()
def version() -> None:
    """Print the versions of mtgc-link and the libraries that shape results."""
    from mtgc_link.provenance import versions

    for name, ver in versions().items():
        typer.echo(f"{name} {ver}")
