"""Entry script of the `atomo-server` executable (PyInstaller): the CLI with `serve` as default command."""

from atomo.cli.frozen import main

if __name__ == "__main__":
    main()
