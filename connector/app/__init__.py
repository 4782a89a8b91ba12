"""The composition root (assembly.py) and the command line (cli.py): where the core meets concrete providers."""
