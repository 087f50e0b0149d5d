"""``python -m selfif``: the same CLI as the ``selfif`` script, for environments without it on PATH."""

from selfif.cli import main

if __name__ == "__main__":
    main()
