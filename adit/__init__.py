"""The ``adit`` command: one entry point that dispatches to every stage (see ``adit.cli``)."""
