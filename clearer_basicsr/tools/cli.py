"""Command-line plumbing of the tools: parsers made from a module's docstring, and where the
package's own option files and zoo lie. (Exit statuses: ``_clearer_basicsr_cli.run``; running stages:
:mod:`.stages`.)"""

from __future__ import annotations

import argparse
import os
import re

# The option files and the model zoo shipped inside the package (the repository's options/ and
# zoo/ are links to them).
PACKAGE_OPTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'options')
PACKAGE_ZOO = os.path.join(os.path.dirname(PACKAGE_OPTIONS), 'zoo')


# reST markup of docstrings, shown as plain text by --help: ``code`` and :role:`target`.
REST_MARKUP = re.compile(r'``(.+?)``|:[a-z]+:`~?(.+?)`')


def doc_parser(doc: str, prog: str | None = None, epilog_from: int | None = 1) -> argparse.ArgumentParser:
    """A parser whose description is the first paragraph of ``doc`` and whose epilog is the rest,
    from paragraph ``epilog_from`` on (None: no epilog), kept as written but for reST markup."""
    paragraphs = REST_MARKUP.sub(lambda m: m.group(1) or m.group(2), doc).split('\n\n')
    epilog = '\n\n'.join(paragraphs[epilog_from:]) if epilog_from is not None else None
    return argparse.ArgumentParser(
        prog=prog, description=paragraphs[0], epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def add_network_source(parser: argparse.ArgumentParser) -> None:
    """``-opt FILE`` or ``--zoo NAME``, one of them required: where the tool's network comes from."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('-opt', metavar='FILE', help='test option file: network_g and its weights')
    source.add_argument('--zoo', metavar='NAME', help='a zoo entry instead (clearer-zoo list shows them)')
