"""``python -m ddvi_genomics``."""

from .cli import main

main()
