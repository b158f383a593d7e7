"""A whole old model config -> an ordered list of LayerSpecs (pure Python).

Keras 0.x: ``{"name": "Sequential", "layers": [...]}`` (class in each layer's
``"name"``) or the Graph container (``input_config``, ``node_config``,
``output_config``, ``nodes``). Keras 1.x/2.x: ``{"class_name": "Sequential",
"config": [...] or {"layers": [...]}}`` or a functional ``Model`` with
``inbound_nodes``, ``input_layers``, ``output_layers``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tfrnn.compat.config_text import short
from tfrnn.compat.layer_configs import LayerSpec, Source, translate
from tfrnn.compat.layer_configs import _name as layer_name  # its checks for a model's name

#: model classes a Keras 1.x/2.x config may hold as a layer (a nested model)
NESTED_MODELS = ("Sequential", "Model", "Functional")


@dataclass
class ModelSpec:
    """Layers in build order; ``inputs``/``outputs`` are layer names."""

    layers: list[LayerSpec]
    inputs: list[str]
    outputs: list[str]
    sequential: bool


def normalize(config: dict[str, Any], source: Source) -> ModelSpec:
    """Turn a model config of any generation into a ModelSpec."""
    if "class_name" in config:
        kind, body = config["class_name"], config.get("config")
        if kind == "Sequential":
            layers = body["layers"] if isinstance(body, dict) else body
            return _sequential([(c["class_name"], c.get("config", {})) for c in layers], source)
        if kind in ("Model", "Functional"):
            return _functional(body, source)
        raise ValueError(
            f"Model config: class {short(kind)} is not Sequential, Model or Functional."
        )
    kind = config.get("name")
    if kind == "Sequential" and "layers" in config:
        layers = [
            (c.get("name"), {k: v for k, v in c.items() if k != "name"}) for c in config["layers"]
        ]
        return _sequential(layers, source)
    if kind == "Graph" or "node_config" in config:
        return _graph(config, source)
    raise ValueError(
        "Model config: expected a Keras Sequential, functional Model or Keras 0.x Graph "
        f"config, got keys {short(list(config), 200)}."
    )


def _unique(name: str, taken: set[str]) -> str:
    base, k = name, 1
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def _sequential(layers: list[tuple[str, dict[str, Any]]], source: Source) -> ModelSpec:
    specs: list[LayerSpec] = []
    inputs, output = _sequential_parts(layers, source, specs, set())
    return ModelSpec(specs, inputs, [output], sequential=True)


def _sequential_parts(
    layers: list[tuple[str, dict[str, Any]]],
    source: Source,
    specs: list[LayerSpec],
    taken: set[str],
) -> tuple[list[str], str]:
    """Append a Sequential's layers to ``specs``; return (input names, output name).

    A Keras 1 Sequential may start with ``Merge`` whose config carries the
    merged sub-models under ``layers`` (``Sequential.get_config``); each
    branch becomes its own input and chain, joined by the merge layer.
    """
    if not layers:
        raise ValueError("Model config: a Sequential model with no layers.")
    inputs: list[str] = []
    previous: list[str] = []
    for k, (class_name, cfg) in enumerate(layers):
        fallback = f"{str(class_name).lower()}_{k}"
        if source.generation == "keras0":
            cfg = {**cfg, "name": fallback}
        if class_name == "Merge" and "layers" in cfg:
            if k or source.generation == "keras0":
                raise ValueError(
                    "Model config: a Merge of sub-models is read only as the first layer "
                    "of a Keras 1.x/2.0 Sequential model."
                )
            inputs, previous = _merge_branches(cfg["layers"], source, specs, taken)
            cfg = {key: value for key, value in cfg.items() if key != "layers"}
        spec = _layer_spec(class_name, cfg, source, fallback)
        spec.name = spec.config["name"] = _unique(spec.name, taken)
        if not previous and spec.class_name == "InputLayer":
            # Keras 2 Sequential configs may list their InputLayer explicitly.
            specs.append(spec)
            inputs = previous = [spec.name]
            continue
        if not previous:
            inputs = previous = [_sequential_input(spec, taken, specs)]
        spec.inbound = previous
        specs.append(spec)
        previous = [spec.name]
    return inputs, previous[0]


def _layer_spec(class_name: str, cfg: Any, source: Source, fallback: str) -> LayerSpec:
    """One layer's spec. A nested Sequential or functional model (Keras 1.x/2.x)
    becomes a spec of class "Model" whose ``submodel`` is its own ModelSpec,
    its input shape that of its single input."""
    if class_name not in NESTED_MODELS or source.generation == "keras0":
        return translate(class_name, cfg, source, fallback)
    submodel = normalize({"class_name": class_name, "config": cfg}, source)
    name = layer_name(cfg, fallback) if isinstance(cfg, dict) else fallback
    spec = LayerSpec(name, "Model", {"name": name}, class_name, {}, submodel=submodel)
    inputs = [layer for layer in submodel.layers if layer.name in submodel.inputs]
    if len(inputs) == 1:
        spec.input_shape = inputs[0].input_shape
    return spec


def _sequential_input(first: LayerSpec, taken: set[str], specs: list[LayerSpec]) -> str:
    """The InputLayer a Sequential model creates for its first layer."""
    if first.input_shape is None:
        raise ValueError(
            f"Model config: the first layer '{first.name}' states no input shape "
            "(batch_input_shape, input_shape or input_dim)."
        )
    dtype = "int32" if first.class_name == "Embedding" else "float32"
    name = _unique(f"{first.name}_input", taken)
    spec = LayerSpec(name, "InputLayer", {"name": name, "dtype": dtype}, "InputLayer", {})
    spec.input_shape = first.input_shape
    specs.append(spec)
    return name


def _merge_branches(
    branches: Any, source: Source, specs: list[LayerSpec], taken: set[str]
) -> tuple[list[str], list[str]]:
    """The sub-Sequential models of a Keras 1 Merge: (their inputs, their outputs)."""
    if not isinstance(branches, list) or len(branches) < 2:
        raise ValueError("Model config: a Merge layer needs a list of at least two sub-models.")
    inputs, outputs = [], []
    for branch in branches:
        kind = branch.get("class_name") if isinstance(branch, dict) else None
        if kind != "Sequential":
            raise ValueError(
                f"Model config: Merge branches must be Sequential models, got {short(kind)}."
            )
        body = branch.get("config")
        layers = body["layers"] if isinstance(body, dict) else body
        branch_inputs, output = _sequential_parts(
            [(c["class_name"], c.get("config", {})) for c in layers], source, specs, taken
        )
        inputs.extend(branch_inputs)
        outputs.append(output)
    return inputs, outputs


def _inbound_names(nodes: list[Any], name: str) -> list[str]:
    if not nodes:
        return []
    if len(nodes) > 1:
        raise ValueError(
            f"Layer '{name}': shared layers (called on {len(nodes)} inputs) are not supported."
        )
    node = nodes[0]
    if isinstance(node, dict):
        raise ValueError(f"Layer '{name}': Keras 3 style inbound nodes are not supported.")
    return [entry[0] for entry in node]


def _functional(body: dict[str, Any], source: Source) -> ModelSpec:
    specs = []
    for entry in body["layers"]:
        spec = _layer_spec(entry["class_name"], entry.get("config", {}), source, entry["name"])
        spec.name = spec.config["name"] = entry["name"]
        spec.inbound = _inbound_names(entry.get("inbound_nodes", []), entry["name"])
        specs.append(spec)
    inputs = [entry[0] for entry in body["input_layers"]]
    outputs = [entry[0] for entry in body["output_layers"]]
    return ModelSpec(_topological(specs), inputs, outputs, sequential=False)


def _topological(specs: list[LayerSpec]) -> list[LayerSpec]:
    by_name = {s.name: s for s in specs}
    done: list[LayerSpec] = []
    seen: set[str] = set()

    def visit(spec: LayerSpec, stack: tuple[str, ...]) -> None:
        if spec.name in seen:
            return
        if spec.name in stack:
            raise ValueError(f"Model config: a cycle through layer '{spec.name}'.")
        for name in spec.inbound:
            if name not in by_name:
                raise ValueError(
                    f"Layer '{spec.name}': input layer '{name}' is not in the config."
                )
            visit(by_name[name], (*stack, spec.name))
        seen.add(spec.name)
        done.append(spec)

    for spec in specs:
        visit(spec, ())
    return done


def _graph(config: dict[str, Any], source: Source) -> ModelSpec:
    specs: list[LayerSpec] = []
    taken: set[str] = set()
    inputs = []
    for entry in config.get("input_config", []):
        spec = LayerSpec(entry["name"], "InputLayer", {"name": entry["name"]}, "InputLayer", {})
        spec.config["dtype"] = "int32" if entry.get("dtype") == "int" else "float32"
        if entry.get("input_shape") is None:
            # Graph.add_input(batch_input_shape=...) recorded input_shape None.
            raise ValueError(
                f"Graph input '{entry['name']}': the config records no input_shape (the "
                "input was added with batch_input_shape, which Keras 0.x did not save); "
                "add 'input_shape' to its input_config entry."
            )
        spec.input_shape = (None, *tuple(entry["input_shape"]))
        taken.add(spec.name)
        specs.append(spec)
        inputs.append(spec.name)
    nodes = config.get("nodes", {})
    for entry in config.get("node_config", []):
        name = entry["name"]
        sources = _graph_sources(entry, name, specs, taken)
        layer_cfg = dict(nodes[name])
        spec = translate(layer_cfg.pop("name"), {**layer_cfg, "name": name}, source, name)
        spec.inbound = sources
        taken.add(name)
        specs.append(spec)
    by_output = {
        entry["name"]: _graph_sources(entry, entry["name"], specs, taken)[0]
        for entry in config.get("output_config", [])
    }
    order = config.get("output_order") or list(by_output)
    outputs = [by_output[name] for name in order]
    return ModelSpec(specs, inputs, outputs, sequential=False)


def _graph_sources(
    entry: dict[str, Any], name: str, specs: list[LayerSpec], taken: set[str]
) -> list[str]:
    """Inputs of a Graph node; several inputs get a merge layer of ``merge_mode``."""
    if entry.get("input"):
        return [entry["input"]]
    inputs = list(entry.get("inputs") or [])
    if not inputs:
        raise ValueError(f"Graph node '{name}': no input or inputs.")
    if len(inputs) == 1:
        return inputs
    mode = entry.get("merge_mode", "concat")
    merge = translate(
        "Merge",
        {"mode": mode, "concat_axis": entry.get("concat_axis", -1), "name": f"{name}_merge"},
        Source("keras0"),
        f"{name}_merge",
    )
    merge.name = merge.config["name"] = _unique(merge.name, taken)
    merge.inbound = inputs
    specs.append(merge)
    return [merge.name]
