"""``python -m smelend`` runs the CLI."""

from smelend.cli import main

main()
