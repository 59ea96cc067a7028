"""``python -m firefly``: the same as the ``firefly`` command."""

from .cli import main

if __name__ == "__main__":
    main()
