"""Sphinx directive ``cli-help``: the command line's ``--help`` text, taken from the parser at build time.

The API reference shows ``python -m mmdc_lib`` and each sub-command as ``--help`` prints them, so the page
cannot drift from the code. Usage in a MyST page::

    ```{cli-help}
    ```
"""
from __future__ import annotations

import argparse
import os

from docutils import nodes
from sphinx.util.docutils import SphinxDirective


def help_texts() -> list[tuple[str, str]]:
    """(command, help text) for the program and each of its sub-commands, wrapped at 88 columns."""
    from mmdc_lib.cli import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "88"  # argparse wraps to $COLUMNS: the same width on every machine
    try:
        parser = build_parser()
        texts = [("python -m mmdc_lib", parser.format_help())]
        for action in parser._actions:  # argparse keeps sub-commands in its private _SubParsersAction
            if isinstance(action, argparse._SubParsersAction):
                texts += [(f"python -m mmdc_lib {name}", sub.format_help()) for name, sub in action.choices.items()]
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return texts


class CliHelp(SphinxDirective):
    def run(self) -> list[nodes.Node]:
        result: list[nodes.Node] = []
        for command, text in help_texts():
            result.append(nodes.paragraph("", "", nodes.literal(command, command)))
            result.append(nodes.literal_block(text, text, language="text"))
        return result


def setup(app):
    app.add_directive("cli-help", CliHelp)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
