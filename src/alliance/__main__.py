"""`python -m alliance`: the same command as the `alliance` entry point."""

from alliance.cli import main

main(prog_name="alliance")
