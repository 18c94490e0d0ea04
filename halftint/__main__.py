"""`python -m halftint` runs the command-line interface (also what `torchrun -m halftint` uses)."""

from halftint.cli import main

if __name__ == "__main__":
    main()
