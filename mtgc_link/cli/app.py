"""The root Typer application; command modules attach their commands to it.

Help texts never list plug-ins by hand: the ``help=`` of an option or argument of a top-level command may
hold ``{codecs}`` or ``{metrics}``, replaced by the names in the registry (``mtgc_link.codecs.CODECS``,
``mtgc_link.metrics.METRICS``) when that command runs or shows its help. Filling them imports the plug-ins,
so it happens only then: ``mtgc-link --help`` (which lists commands, not options) stays as fast as before.
"""

from __future__ import annotations

from collections.abc import Callable

import typer
from typer.core import TyperGroup


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


class RegistryHelpGroup(TyperGroup):
    """The root group: fills registry placeholders in the option help of the command it is about to run."""

    def resolve_command(self, ctx, args):
        name, cmd, rest = super().resolve_command(ctx, args)
        for param in cmd.params if cmd is not None else ():
            if isinstance(getattr(param, "help", None), str):
                param.help = fill_registry_help(param.help)
        return name, cmd, rest


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
