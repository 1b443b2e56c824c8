"""`python -m sentiment_cli` runs the same click group as the `sentiment` console script."""

from sentiment_cli.cli import main

if __name__ == "__main__":
    main()
