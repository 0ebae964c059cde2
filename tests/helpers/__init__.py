"""Helpers shared by the tests: composing configs, training short runs, running the command line, hand-made
run dirs and models. ``tests/conftest.py`` holds only pytest hooks and fixtures."""
