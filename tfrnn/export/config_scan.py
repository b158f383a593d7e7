"""Finding what in a Keras model config would run code when it is loaded.

Keras configs can carry Python: a ``Lambda`` layer's function as marshaled
bytecode, a ``__lambda__`` object, a ``module`` that deserialization imports
and takes a class or function from, and TF-op layers (``TFOpLambda``) that
call any TensorFlow function by name, including ``tf.io.write_file`` or
``tf.py_function``. ``check_config`` refuses all of these, before any Keras
deserialization, except modules of the libraries a tfrnn model is built from
and TensorFlow ops from an allowlist of side-effect-free namespaces.
"""

from __future__ import annotations

import builtins
import importlib
import re
from typing import Any

UNSAFE_HINT = (
    "If you trust whoever wrote the file, rerun with --unsafe "
    "(load_model_for_export(..., unsafe=True)), which lets Keras run it."
)
# Modules whose classes and functions deserialization may import.
SAFE_MODULE_ROOTS = ("keras", "tf_keras", "tfrnn", "builtins", "tensorflow", "numpy")
# Roots whose plain functions (activations, initializers ...) may be named
# (for builtins: Keras's own names, never Python's builtins); TensorFlow
# functions also, from SAFE_TF_OP_MODULES.
SAFE_FUNCTION_ROOTS = ("keras", "tf_keras", "tfrnn")
LAMBDA_CLASSES = ("Lambda",)
OP_LAYER_CLASSES = ("TFOpLambda", "SlicingOpLambda")
TENSOR_ATTRIBUTE_CLASSES = ("InstanceProperty", "InstanceMethod")
CLASS_METHOD_CLASSES = ("ClassMethod",)
SAFE_TF_CLASSES = ("RaggedTensor", "SparseTensor")
# tf.<namespace>.* op layers allowed: math on tensors, no I/O, no Python calls.
SAFE_TF_NAMESPACES = (
    "__operators__",
    "bitwise",
    "dtypes",
    "image",
    "linalg",
    "math",
    "nn",
    "ragged",
    "random",
    "signal",
    "sparse",
    "strings",
)
# Top-level tf.* op layers allowed when TensorFlow implements the function in
# one of these modules of tensorflow.python.ops (tf.concat, tf.reshape ...);
# tf.print, tf.py_function, tf.load_op_library ... live elsewhere.
SAFE_TF_OP_MODULES = (
    "array_ops",
    "array_ops_stack",
    "check_ops",
    "clip_ops",
    "gen_array_ops",
    "gen_linalg_ops",
    "gen_math_ops",
    "gen_nn_ops",
    "linalg_ops",
    "manip_ops",
    "math_ops",
    "nn_impl",
    "nn_ops",
    "sort_ops",
    "special_math_ops",
    "tensor_getitem_override",
)
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
MAX_REPORTED = 5


class UnsafeModelError(ValueError):
    """The model config holds something that would run code when loaded."""


def check_config(config: Any, where: str, keras: int = 2) -> None:
    """Raise UnsafeModelError naming ``where`` and each unsafe layer found in
    ``config``, a config of tf_keras (``keras=2``) or Keras 3 (``keras=3``)."""
    findings = find_unsafe(config, keras)
    if not findings:
        return
    listed = "; ".join(findings[:MAX_REPORTED])
    more = len(findings) - MAX_REPORTED
    if more > 0:
        listed += f"; and {more} more"
    raise UnsafeModelError(
        f"{where}: refused to load: {listed}. Loading would run code the file supplies, "
        f"so nothing was deserialized. {UNSAFE_HINT}"
    )


def find_unsafe(config: Any, keras: int = 2) -> list[str]:
    """One sentence per unsafe object in ``config`` (a parsed JSON config of
    tf_keras, or with ``keras=3`` of Keras 3)."""
    findings: list[str] = []
    stack: list[tuple[Any, str]] = [(config, "the model")]
    while stack:
        item, owner = stack.pop()
        if isinstance(item, list):
            stack.extend((child, owner) for child in reversed(item))
            continue
        if not isinstance(item, dict):
            continue
        owner = _owner(item, owner)
        problem = _problem(item, keras)
        if problem:
            findings.append(f"{owner} {problem}")
            continue  # one finding per object: its insides are part of it
        stack.extend((child, owner) for child in reversed(list(item.values())))
    return findings


def _owner(item: dict, owner: str) -> str:
    """How to name the layer ``item`` describes (its name and class), else ``owner``."""
    class_name = item.get("class_name")
    inner = item.get("config")
    name = inner.get("name") if isinstance(inner, dict) else None
    name = name if name is not None else item.get("name")
    if isinstance(class_name, str) and isinstance(name, str) and not class_name.startswith("__"):
        return f"layer '{name[:80]}' ({class_name[:80]})"
    return owner


def _problem(item: dict, keras: int) -> str | None:
    class_name = item.get("class_name")
    registered = item.get("registered_name")
    inner = item.get("config") if isinstance(item.get("config"), dict) else {}
    if class_name in LAMBDA_CLASSES or registered in LAMBDA_CLASSES:
        return (
            "is a Lambda layer: its function is Python code (marshaled bytecode or an "
            "importable function) that Keras runs when it builds the model"
        )
    if class_name == "__lambda__":
        return "holds a Python lambda as marshaled bytecode, which loading would run"
    for key, value in item.items():
        if isinstance(key, str) and key.endswith("_type") and value == "lambda":
            return f"holds Python bytecode ({key}: lambda), which loading would run"
    if class_name in OP_LAYER_CLASSES:
        return _op_problem(inner.get("function"))
    if class_name in TENSOR_ATTRIBUTE_CLASSES:
        return _attribute_problem(inner.get("attr_name"))
    if class_name in CLASS_METHOD_CLASSES:
        return _class_method_problem(inner.get("cls_symbol"), inner.get("method_name"))
    if "class_name" in item and "module" in item:
        return _module_problem(item["module"], class_name, item, keras)
    return None


def _module_problem(module: Any, class_name: Any, item: dict, keras: int) -> str | None:
    """Why the class or function ``item`` names in ``module`` may not be loaded.

    tf_keras imports ``module`` and takes ``vars(module)[name]`` (or, for a
    dotted name, an attribute of it: ``os.system`` of a module that imported
    ``os``), and calls what it gets. So the module's root must be allowed and
    the object itself must be what the config says: a class of an allowed
    library, or a function of keras/tf_keras/tfrnn (or a TensorFlow math op)."""
    if module is None:
        return None
    if not isinstance(module, str):
        return f"names a module that is not text ({type(module).__name__})"
    root = module.split(".")[0]
    if root not in SAFE_MODULE_ROOTS:
        return (
            f"names the Python module '{module[:120]}', which loading would import "
            f"(only modules of {', '.join(SAFE_MODULE_ROOTS)} are imported without --unsafe)"
        )
    is_function = class_name == "function"
    name = item.get("config") if is_function else item.get("spec_name", class_name)
    if not isinstance(name, str):
        return None  # not a lookup tf_keras can make
    where = f"'{name[:80]}' of module '{module[:120]}'"
    if root == "builtins":
        if not hasattr(builtins, name):
            return None  # Keras's own activations, losses ... are looked up by name
        return f"names the Python builtin {where}, which loading would call"
    found = _resolve(module, name, keras)
    if found is None:
        return None  # tf_keras will not find it either
    if not is_function:
        if isinstance(found, type) and _root(found) in SAFE_MODULE_ROOTS:
            return None
        return f"names {where} as a class, but it is {_kind(found)}, which loading would call"
    if _root(found) in SAFE_FUNCTION_ROOTS and callable(found):
        return None
    package, _, leaf = (getattr(found, "__module__", None) or "").rpartition(".")
    if package == "tensorflow.python.ops" and leaf in SAFE_TF_OP_MODULES:
        return None
    return (
        f"uses the function {where}, which is {_kind(found)}: only functions of "
        f"{', '.join(SAFE_FUNCTION_ROOTS)} and TensorFlow math ops are loaded without --unsafe"
    )


def _resolve(module: str, name: str, keras: int) -> Any:
    """What the deserialization of tf_keras (``keras=2``: ``keras.*`` modules are
    tf_keras's) or Keras 3 takes from ``module`` for ``name`` (importing ``module``
    as it would: its root is an allowed library), or None."""
    if keras == 2 and module.startswith("keras"):
        module = "tf_" + module
    try:
        mod = importlib.import_module(module)
    except (ImportError, ValueError, TypeError):
        return None
    found = vars(mod).get(name)
    if found is None and name.count(".") == 1:
        outer, inner = name.split(".")
        found = getattr(vars(mod).get(outer), inner, None)
    return found


def _root(obj: Any) -> str:
    return (getattr(obj, "__module__", None) or "").split(".")[0]


def _kind(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    kind = "class" if isinstance(obj, type) else type(obj).__name__
    return f"a {kind} from '{module[:80]}'"


def _op_problem(function: Any) -> str | None:
    if not isinstance(function, str) or not _DOTTED_NAME.fullmatch(function):
        return "is a TF-op layer whose function is not a TensorFlow API name"
    namespace, _, rest = function.partition(".")
    if rest:
        if namespace in SAFE_TF_NAMESPACES:
            return None
    elif not function.startswith("_") and _implemented_in_safe_module(function):
        return None
    return (
        f"calls tf.{function[:120]}, which is not among the side-effect-free TensorFlow ops "
        f"loaded without --unsafe (tf.{', tf.'.join(SAFE_TF_NAMESPACES)} and top-level "
        "math and array ops); TensorFlow functions can read and write files or call Python"
    )


def _implemented_in_safe_module(name: str) -> bool:
    import tensorflow as tf

    module = getattr(getattr(tf, name, None), "__module__", None) or ""
    package, _, leaf = module.rpartition(".")
    return package == "tensorflow.python.ops" and leaf in SAFE_TF_OP_MODULES


def _attribute_problem(attr_name: Any) -> str | None:
    if isinstance(attr_name, str) and attr_name.isidentifier() and not attr_name.startswith("_"):
        return None
    return "reads a private or malformed attribute of a tensor"


def _class_method_problem(cls_symbol: Any, method_name: Any) -> str | None:
    if (
        cls_symbol in SAFE_TF_CLASSES
        and isinstance(method_name, str)
        and method_name.isidentifier()
        and not method_name.startswith("_")
    ):
        return None
    return (
        f"calls a method of tf.{str(cls_symbol)[:80]}; only public methods of "
        f"{', '.join('tf.' + c for c in SAFE_TF_CLASSES)} are loaded without --unsafe"
    )
