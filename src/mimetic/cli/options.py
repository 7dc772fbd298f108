"""Turn frozen config dataclasses into argparse options (DESIGN.md: the CLI is generated).

Each field becomes ``--field-name``; its attribute docstring (the string literal right under the
field) becomes the --help text, so the config class is the single place an option is documented.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import textwrap
import types
import typing
from functools import cache
from typing import Any, Literal, get_args, get_origin, get_type_hints

from mimetic.errors import ConfigError, MimeticError


@cache
def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings of a dataclass, read from its source with ``ast``."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for prev, node in zip(body, body[1:]):
        if (isinstance(prev, ast.AnnAssign) and isinstance(prev.target, ast.Name)
                and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)):
            docs[prev.target.id] = " ".join(node.value.value.split())
    return docs


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _parser_for(tp: Any, optional: bool) -> tuple[Any, dict[str, Any]]:
    """argparse ``type`` callable and extra kwargs for one field type."""
    def none_or(conv: Any) -> Any:
        def parse(text: str) -> Any:
            return None if optional and text.lower() == "none" else conv(text)
        parse.__name__ = getattr(conv, "__name__", "value")
        return parse

    if get_origin(tp) is Literal:
        return none_or(str), {"choices": list(get_args(tp)) + (["none"] if optional else [])}
    if get_origin(tp) is tuple:
        inner = get_args(tp)[0]
        return none_or(inner), {"nargs": "*"}  # no values: the empty tuple (e.g. a linear policy)
    if tp in (int, float, str):
        return none_or(tp), {}
    raise TypeError(f"unsupported config field type {tp!r}")


def add_config_args(parser: argparse.ArgumentParser, cls: type, *, skip: set[str] | None = None,
                    title: str | None = None, prefix: str = "", defaults: dict[str, Any] | None = None) -> None:
    """Add one option per field of ``cls`` (already-present options are shared, not duplicated).

    With ``prefix`` ("diffusion"), every option is namespaced (``--diffusion-hidden``, dest
    ``diffusion_hidden``), so two configs with a field of the same name can sit side by side;
    read them back with ``config_from_args(cls, args, prefix=...)``. ``defaults`` replaces field
    defaults for this command (e.g. fewer BC steps in each DAgger round), in --help too.
    """
    hints = get_type_hints(cls)
    docs = field_docs(cls)
    group = parser.add_argument_group(title or cls.__name__)
    existing = {a.dest for a in parser._actions}
    for f in dataclasses.fields(cls):
        dest = f"{prefix}_{f.name}" if prefix else f.name
        if (skip and f.name in skip) or dest in existing or not f.init:
            continue
        flag = "--" + dest.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if defaults and f.name in defaults:
            default = defaults[f.name]
        tp, optional = _strip_optional(hints[f.name])
        help_text = f"{docs.get(f.name, '')} (default: {default})".strip()
        if tp is bool:
            group.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=default,
                               help=docs.get(f.name, ""))
            continue
        conv, extra = _parser_for(tp, optional)
        group.add_argument(flag, dest=dest, type=conv, default=default, help=help_text,
                           metavar=dest.upper() if "choices" not in extra else None, **extra)


def config_from_args(cls: type, args: argparse.Namespace, *, prefix: str = "", **overrides: Any) -> Any:
    """Build ``cls`` from parsed args (fields absent from args keep their defaults)."""
    key = (lambda name: f"{prefix}_{name}") if prefix else (lambda name: name)
    values = {f.name: getattr(args, key(f.name)) for f in dataclasses.fields(cls)
              if f.init and hasattr(args, key(f.name))}
    for name, val in values.items():
        if isinstance(val, list):
            values[name] = tuple(val)
    values.update(overrides)
    try:
        return cls(**values)
    except MimeticError as e:
        raise ConfigError(_as_flag(str(e), values, prefix)) from None
    except (TypeError, ValueError) as e:
        raise ConfigError(f"bad {cls.__name__} option: {e}") from None


def _as_flag(message: str, fields: dict[str, Any], prefix: str = "") -> str:
    """'steps must be >= 1' -> '--steps must be >= 1': name the option the user typed."""
    first, _, rest = message.partition(" ")
    name = f"{prefix}_{first}" if prefix else first
    return f"--{name.replace('_', '-')} {rest}" if first in fields and rest.startswith("must ") else message
