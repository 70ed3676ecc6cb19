"""Placeholder."""
import typer


def sql_command(ctx: typer.Context) -> None:
    """Run read-only SQL over the workspace (being written)."""
    raise typer.Exit(1)
