"""The requantize TF 2.21's int8 quantizer leaves out after REVERSE_V2.

A CONCATENATION (a Bidirectional layer's merge) needs its int8 inputs at
the scale of its output, and TF 2.21's quantizer gives that scale to the
REVERSE_V2 that puts the backward half's outputs back in time order. But
the REVERSE_V2 kernel copies bytes: its output is written at its input's
scale, so the backward half was read at the wrong one (a Bidirectional
LSTM(5) came out up to 1.4x too large, max abs diff 0.2).
``add_missing_requantizes`` lets such an op write a tensor at the scale its
kernel uses and adds a QUANTIZE (int8 to int8: a requantize) from it to the
original output tensor.
"""

from __future__ import annotations

import copy

from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

_OP = schema.BuiltinOperator
#: op -> the input whose quantization its int8 kernel writes output 0 with
WRITES_AT_SCALE_OF = {_OP.REVERSE_V2: 0}


def _params(tensor) -> tuple | None:
    q = tensor.quantization
    if q is None or q.scale is None or q.zeroPoint is None:
        return None
    return tuple(float(s) for s in q.scale), tuple(int(z) for z in q.zeroPoint)


def _builtin(code) -> int:
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def _opcode_index(model, builtin: int) -> int:
    for i, code in enumerate(model.operatorCodes):
        if _builtin(code) == builtin:
            return i
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, _OP.PLACEHOLDER_FOR_GREATER_OP_CODES)
    code.version = 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def add_missing_requantizes(content: bytes) -> tuple[bytes, int]:
    """``content`` with a requantize after every int8 op of
    ``WRITES_AT_SCALE_OF`` whose output quantization differs from the one
    its kernel writes with, and how many requantizes were added."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    added = 0
    for subgraph in model.subgraphs:
        operators = []
        for op in subgraph.operators:
            operators.append(op)
            source_input = WRITES_AT_SCALE_OF.get(_builtin(model.operatorCodes[op.opcodeIndex]))
            if source_input is None or len(op.inputs) <= source_input:
                continue
            source = subgraph.tensors[op.inputs[source_input]]
            target = subgraph.tensors[op.outputs[0]]
            int8 = schema.TensorType.INT8
            if source.type != int8 or target.type != int8:
                continue
            if _params(source) is None or _params(source) == _params(target):
                continue
            written = copy.deepcopy(target)
            written.name = (target.name or b"") + b"/before_requantize"
            written.quantization = copy.deepcopy(source.quantization)
            written.isVariable = False
            model.buffers.append(schema.BufferT())  # empty: a computed tensor
            written.buffer = len(model.buffers) - 1
            subgraph.tensors.append(written)
            requantize = schema.OperatorT()
            requantize.opcodeIndex = _opcode_index(model, _OP.QUANTIZE)
            requantize.inputs = [len(subgraph.tensors) - 1]
            requantize.outputs = [op.outputs[0]]
            op.outputs = [len(subgraph.tensors) - 1, *list(op.outputs)[1:]]
            operators.append(requantize)
            added += 1
        subgraph.operators = operators
    if not added:
        return content, 0
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), added
