"""Reading functions as code to copy: the ground-truth files are built from the source of real
functions (solutions/, evaluations/). Standard library only (trirole's tests use it too)."""

from __future__ import annotations

import ast
import io
import textwrap
import tokenize


def parse_function(source: str) -> ast.FunctionDef:
    """The definition in `source`, the text of one function (as ``inspect.getsource`` gives it)."""
    definition = ast.parse(textwrap.dedent(source)).body[0]
    if not isinstance(definition, ast.FunctionDef):
        raise ValueError(f"not a function definition: {source.splitlines()[0]!r}")
    return definition


def function_body(source: str, *, drop_last: bool = False) -> str:
    """The source of a function's statements, comments included, dedented; without its last
    statement if `drop_last`."""
    source = textwrap.dedent(source)
    definition = parse_function(source)
    # The body starts after the logical line of the `def` header (which may span several lines).
    header_end = next(token.end[0] for token in tokenize.generate_tokens(io.StringIO(source).readline)
                      if token.type == tokenize.NEWLINE)
    end = definition.body[-1].lineno - 1 if drop_last else definition.body[-1].end_lineno
    lines = source.splitlines()[header_end:end]
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return "\n".join(line[indent:] for line in lines)


def function_source(module_source: str, name: str) -> str:
    """The text of the top-level function `name` in a module's source (without importing it)."""
    for node in ast.parse(module_source).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return ast.get_source_segment(module_source, node, padded=True)
    raise ValueError(f"no function {name}() in the module")
