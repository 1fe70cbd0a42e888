"""The root Typer application; command modules attach their commands to it."""

import typer

app = typer.Typer(
    name="mtgc-link",
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
