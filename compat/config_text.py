"""Parsing model configs: JSON, or YAML through a safe loader (no code runs)."""

from __future__ import annotations

import json
import os
import reprlib
from typing import Any

import yaml


class _LegacyYamlLoader(yaml.SafeLoader):
    """SafeLoader that also reads the plain-data Python tags old Keras YAML carries.

    Keras 0.x/1.x ``to_yaml`` was ``yaml.dump`` (the full representer): tuples
    (shapes) became ``!!python/tuple``, and under Python 2 an ASCII ``unicode``
    string (any name that had been through ``json.loads``) ``!!python/unicode``,
    a non-ASCII UTF-8 ``str`` ``!!python/str``, a big ``long``
    ``!!python/long``. These build tuples, strings and ints; every other
    ``!!python/...`` tag (objects, calls) is still refused."""


def _tuple(loader: yaml.SafeLoader, node: yaml.Node) -> tuple:
    return tuple(loader.construct_sequence(node, deep=True))


def _text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))


def _long(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    return int(loader.construct_yaml_int(node))


_LegacyYamlLoader.add_constructor("tag:yaml.org,2002:python/tuple", _tuple)
_LegacyYamlLoader.add_constructor("tag:yaml.org,2002:python/unicode", _text)
_LegacyYamlLoader.add_constructor("tag:yaml.org,2002:python/str", _text)
_LegacyYamlLoader.add_constructor("tag:yaml.org,2002:python/long", _long)


MAX_CONFIG_BYTES = 32 * 1024 * 1024
# Limits no real Keras config comes near: nesting depth and values after YAML
# aliases are expanded (a 500-byte "billion laughs" document expands to 10**9).
MAX_DEPTH = 200
MAX_VALUES = 2_000_000


def parse_config(config: str | os.PathLike | dict[str, Any]) -> dict[str, Any]:
    """A model config from a dict, JSON/YAML text, or a path to a JSON/YAML file.

    For a config stored inside a weights file use ``parse_config_text``: text
    in a file is never taken for a path."""
    if isinstance(config, dict):
        return config
    text = os.fspath(config)
    if isinstance(text, bytes):
        text = text.decode("utf8", errors="replace")
    if _looks_like_path(text):
        return parse_config_text(_read_config_file(text), text)
    return parse_config_text(text, "config text")


def _looks_like_path(text: str) -> bool:
    stripped = text.strip()
    return (
        bool(stripped)
        and "\n" not in stripped
        and not stripped.startswith(("{", "["))
        and (os.path.exists(stripped) or stripped.endswith((".json", ".yaml", ".yml")))
    )


def _read_config_file(path: str) -> str:
    if os.path.isdir(path):
        raise ValueError(f"{path}: a directory, not a JSON or YAML config file.")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such config file.")
    size = os.path.getsize(path)
    if size > MAX_CONFIG_BYTES:
        raise ValueError(
            f"{path}: {size:,} bytes, more than the {MAX_CONFIG_BYTES:,} a model config needs."
        )
    try:
        with open(path, encoding="utf8") as handle:
            return handle.read()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}).") from None
    except OSError as err:
        raise ValueError(f"{path}: cannot be read ({err.strerror or err}).") from None


def parse_config_text(text: str, where: str) -> dict[str, Any]:
    """A model config from JSON or YAML text (never a path); ``where`` names it in errors.

    YAML goes through a safe loader; nesting deeper than ``MAX_DEPTH`` or more
    than ``MAX_VALUES`` values (aliases expanded) are refused before anything is built."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ValueError(
            f"{where}: a config of {len(text):,} characters, more than the "
            f"{MAX_CONFIG_BYTES:,} a model config needs."
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = _load_yaml(text, where)
    except RecursionError:
        raise ValueError(f"{where}: the config is nested more deeply than any model.") from None
    check_structure(value, where)
    return _expect_dict(value, where)


def _load_yaml(text: str, where: str) -> Any:
    loader = _LegacyYamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_yaml_size(node, where)
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        raise ValueError(
            f"{where}: neither JSON nor YAML a safe loader can read: {short(err, 300)}"
        ) from None
    except RecursionError:
        raise ValueError(f"{where}: the config is nested more deeply than any model.") from None
    finally:
        loader.dispose()


def _check_yaml_size(root: yaml.Node, where: str) -> None:
    """Count the values a YAML node graph expands to (aliases share node objects)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 0, False)]
    while stack:
        node, depth, children_done = stack.pop()
        children = _yaml_children(node)
        if children_done:
            open_nodes.discard(id(node))
            total = 1 + sum(sizes[id(child)] for child in children)
            if total > MAX_VALUES:
                raise ValueError(
                    f"{where}: the config expands to more than {MAX_VALUES:,} values "
                    "(YAML aliases repeated); refused."
                )
            sizes[id(node)] = total
            continue
        if id(node) in sizes:
            continue
        if id(node) in open_nodes:
            raise ValueError(f"{where}: the config refers to itself (a YAML alias loop).")
        if depth > MAX_DEPTH:
            raise ValueError(f"{where}: the config is nested more than {MAX_DEPTH} levels deep.")
        open_nodes.add(id(node))
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in children)


def _yaml_children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def check_structure(value: Any, where: str) -> None:
    """Refuse a parsed config nested deeper than MAX_DEPTH or larger than MAX_VALUES."""
    count = 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ValueError(f"{where}: the config holds more than {MAX_VALUES:,} values.")
        if depth > MAX_DEPTH:
            raise ValueError(f"{where}: the config is nested more than {MAX_DEPTH} levels deep.")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for pair in item.items() for child in pair)
        elif isinstance(item, list | tuple):
            stack.extend((child, depth + 1) for child in item)


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages about file content.

    Containers are summarised without walking them whole."""
    if isinstance(value, dict | list | tuple) and len(value) > 8:
        return f"<{type(value).__name__} of {len(value)} items>"
    try:
        text = reprlib.repr(value) if isinstance(value, dict | list | tuple) else repr(value)
    except RecursionError:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _expect_dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(
            f"{where}: a model config must be a mapping (as to_json/to_yaml write), "
            f"got {type(value).__name__}."
        )
    return value
