"""Parsing model configs: JSON, or YAML through a safe loader (no code runs)."""

from __future__ import annotations

import json
import os
from typing import Any

import yaml


class _LegacyYamlLoader(yaml.SafeLoader):
    """SafeLoader that also reads the ``!!python/tuple`` tags Keras 0.x YAML carries."""


def _tuple(loader: yaml.SafeLoader, node: yaml.Node) -> tuple:
    return tuple(loader.construct_sequence(node, deep=True))


_LegacyYamlLoader.add_constructor("tag:yaml.org,2002:python/tuple", _tuple)


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
