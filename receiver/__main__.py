"""`python -m receiver` is `vodhook`."""

from receiver.cli import main

main()
