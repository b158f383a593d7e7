"""Parsing model configs: JSON, or YAML through a safe loader (no code runs)."""

from __future__ import annotations

import json
import os
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


def parse_config(config: str | os.PathLike | dict[str, Any]) -> dict[str, Any]:
    """A model config from a dict, JSON/YAML text, or a path to a JSON/YAML file."""
    if isinstance(config, dict):
        return config
    where = "config text"
    text = os.fspath(config)
    if os.path.isfile(text):
        where = text
        with open(text, encoding="utf8") as handle:
            text = handle.read()
    try:
        return _expect_dict(json.loads(text), where)
    except json.JSONDecodeError:
        pass
    try:
        return _expect_dict(yaml.load(text, Loader=_LegacyYamlLoader), where)
    except yaml.YAMLError as err:
        raise ValueError(f"{where}: neither JSON nor YAML a safe loader can read: {err}") from None


def _expect_dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(
            f"{where}: a model config must be a mapping (as to_json/to_yaml write), "
            f"got {type(value).__name__}."
        )
    return value
