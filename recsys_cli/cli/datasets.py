"""Placeholder: `recsys datasets list|show` is being written."""
import typer

app = typer.Typer(help="Dataset cards and ingested datasets.", no_args_is_help=True)
