"""Convert dlib's face-recognition ResNet (128-d descriptor) to a TFLite model.

Source: ``dlib_face_recognition_resnet_model_v1.dat`` from the PyPI package
``face-recognition-models`` 0.3.0, i.e. dlib's ``dnn_face_recognition_ResNet_model_v1``
(dlib ``examples/dnn_face_recognition_ex.cpp``).

The ``.dat`` file is parsed by walking dlib's serialisation stream layer by layer (no dlib
needed); the layer sequence, kernel sizes, strides and paddings read from the file are
checked against the architecture below before any weight is used, and the whole file must
be consumed. The network is then rebuilt with plain TensorFlow ops (each affine folded into
the conv before it, in float64) and converted. The default ``dynamic`` variant is the
converter's dynamic-range quantisation (int8 per-channel weights, float activations) with the
first conv and the final fc given their float32 weights back (``KEEP_FLOAT_OPS``). The output
is byte-identical from run to run with the same TensorFlow version.

Tensor contract of the produced model:

* input  ``chip_rgb``: float32 ``[N, 150, 150, 3]`` (N dynamic), RGB pixel values 0..255 of
  the 150x150 face chip aligned like ``dlib.get_face_chip(img, shape, size=150,
  padding=0.25)``. dlib's input normalisation ``(v - mean_rgb) / 256`` is inside the model.
* output ``descriptor``: float32 ``[N, 128]``, dlib's raw descriptor (not L2-normalised).

Usage (conversion venv; TensorFlow is imported only by this script)::

    /work/venv-convert/bin/python installer/convert_dlib_resnet.py \
        --out assets/dlib_resnet_v1.tflite --quant dynamic
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("convert_dlib_resnet")

DAT_NAME = "dlib_face_recognition_resnet_model_v1.dat"
DAT_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "assets" / "dlib_resnet_v1.tflite"
QUANT_CHOICES = ("dynamic", "float16", "float32")
# Chosen by the measurements in assets/MODELS.md: meets the fidelity target, fastest on CPU.
DEFAULT_QUANT = "dynamic"

CHIP_SIZE_PX = 150
DESCRIPTOR_DIM = 128
# dlib input_rgb_image_sized: (pixel - mean) / 256, means stored in the file (checked below).
INPUT_SCALE = 1.0 / 256.0
EXPECTED_MEAN_RGB = (122.782, 117.001, 104.298)
MEAN_TOLERANCE = 1e-3

# dlib serialisation: add_loss_layer v1, add_layer v2 (v3 for the one above the input
# layer), add_tag_layer / add_skip_layer v1, tensor v2 (raw little-endian float32).
LOSS_LAYER_VERSION = 1
LAYER_VERSION = 2
INPUT_LAYER_VERSION = 3
WRAPPER_VERSION = 1
TENSOR_VERSION = 2
ALIAS_TENSOR_VERSION = 1
INT_LENGTH_MASK = 0x0F
INT_NEGATIVE_BIT = 0x80
FC_NO_BIAS = 1  # dlib enum fc_bias_mode { FC_HAS_BIAS = 0, FC_NO_BIAS = 1 }

# Layers whose weights stay float32 in the "dynamic" model: the 7x7 conv on the RGB input and
# the final 256x128 fc. Each costs more fidelity when quantised than any other layer (measured
# in assets/MODELS.md); together they are 9 % of the MACs, and with XNNPACK the float first
# conv is faster than its int8 version.
KEEP_FLOAT_OPS = (("CONV_2D", 0), ("FULLY_CONNECTED", 0))
ROUNDING_SLACK = 0.501  # int8 weight * scale is within half a step of the float weight


# ---------------------------------------------------------------------------------------
# Reading dlib's stream


class DlibStreamError(ValueError):
    """The file does not hold what dlib's serialiser would have written for this net."""


class DlibReader:
    """Reads dlib's serialised primitives from a byte buffer (dlib/serialize.h)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DlibStreamError(f"unexpected end of file at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def read_int(self) -> int:
        """dlib integer: one control byte (low nibble = byte count, 0x80 = negative)."""
        control = self._take(1)[0]
        n_bytes = control & INT_LENGTH_MASK
        if n_bytes > 8 or control & ~(INT_LENGTH_MASK | INT_NEGATIVE_BIT):
            raise DlibStreamError(f"bad integer control byte {control:#x} at {self.pos - 1}")
        value = int.from_bytes(self._take(n_bytes), "little")
        return -value if control & INT_NEGATIVE_BIT else value

    def read_string(self) -> str:
        return self._take(self.read_int()).decode("ascii")

    def expect_string(self, *allowed: str) -> str:
        at = self.pos
        value = self.read_string()
        if value not in allowed:
            raise DlibStreamError(f"expected {allowed} at byte {at}, found {value!r}")
        return value

    def read_real(self) -> float:
        """dlib float/double: float_details, i.e. int64 mantissa then int16 exponent."""
        mantissa = self.read_int()
        exponent = self.read_int()
        return float(mantissa) * 2.0**exponent

    def read_bool(self) -> bool:
        flag = self._take(1)
        if flag not in (b"0", b"1"):
            raise DlibStreamError(f"bad bool {flag!r} at byte {self.pos - 1}")
        return flag == b"1"

    def read_tensor(self) -> np.ndarray:
        """resizable_tensor v2 as an (n, k, nr, nc) float32 array."""
        version = self.read_int()
        if version != TENSOR_VERSION:
            raise DlibStreamError(f"tensor version {version} at byte {self.pos}")
        shape = tuple(self.read_int() for _ in range(4))
        count = int(np.prod(shape))
        raw = self._take(count * 4)
        return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)

    def read_alias_tensor(self) -> tuple[int, int, int, int]:
        version = self.read_int()
        if version != ALIAS_TENSOR_VERSION:
            raise DlibStreamError(f"alias_tensor version {version} at byte {self.pos}")
        return tuple(self.read_int() for _ in range(4))  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------
# Layers as stored


@dataclass
class InputLayer:
    mean_rgb: tuple[float, float, float]
    size_px: tuple[int, int]


@dataclass
class Conv:
    weights: np.ndarray  # dlib OIHW
    bias: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]

    @property
    def num_filters(self) -> int:
        return int(self.weights.shape[0])

    @property
    def kernel(self) -> tuple[int, int]:
        return int(self.weights.shape[2]), int(self.weights.shape[3])


@dataclass
class Affine:
    gamma: np.ndarray
    beta: np.ndarray


@dataclass
class Pool:
    kind: str  # "max" | "avg"
    size: tuple[int, int]  # (0, 0) = the whole image (avg_pool_everything)
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass
class Relu:
    pass


@dataclass
class AddPrev:
    pass


@dataclass
class Fc:
    weights: np.ndarray  # (num_inputs, num_outputs)


@dataclass
class Wrapper:
    """add_tag_layer or add_skip_layer: dlib stores only a version, not which one."""


Layer = InputLayer | Conv | Affine | Pool | Relu | AddPrev | Fc | Wrapper


def _read_details(r: DlibReader) -> Layer:
    at = r.pos
    name = r.read_string()
    if name == "con_4":
        params = r.read_tensor().ravel()
        num_filters, nr, nc = r.read_int(), r.read_int(), r.read_int()
        stride = (r.read_int(), r.read_int())
        padding = (r.read_int(), r.read_int())
        filt = r.read_alias_tensor()
        bias_shape = r.read_alias_tensor()
        for _ in range(4):  # learning-rate / weight-decay multipliers
            r.read_real()
        n_weights = int(np.prod(filt))
        if filt[0] != num_filters or filt[2:] != (nr, nc) or params.size != n_weights + num_filters:
            raise DlibStreamError(f"inconsistent con_ layer at byte {at}")
        if int(np.prod(bias_shape)) != num_filters:
            raise DlibStreamError(f"con_ bias shape {bias_shape} at byte {at}")
        return Conv(params[:n_weights].reshape(filt), params[n_weights:].copy(), stride, padding)
    if name == "affine_":
        params = r.read_tensor().ravel()
        gamma_shape = r.read_alias_tensor()
        beta_shape = r.read_alias_tensor()
        r.read_int()  # mode (CONV_MODE or FC_MODE): per channel either way here
        k = int(np.prod(gamma_shape))
        if int(np.prod(beta_shape)) != k or params.size != 2 * k:
            raise DlibStreamError(f"inconsistent affine_ layer at byte {at}")
        return Affine(params[:k].copy(), params[k:].copy())
    if name in ("max_pool_2", "avg_pool_2"):
        size = (r.read_int(), r.read_int())
        stride = (r.read_int(), r.read_int())
        padding = (r.read_int(), r.read_int())
        return Pool(name[:3], size, stride, padding)
    if name == "relu_":
        return Relu()
    if name == "add_prev_":
        return AddPrev()
    if name == "fc_2":
        num_outputs, num_inputs = r.read_int(), r.read_int()
        params = r.read_tensor().ravel()
        weights_shape = r.read_alias_tensor()
        r.read_alias_tensor()  # biases alias, unused when bias_mode is FC_NO_BIAS
        bias_mode = r.read_int()
        for _ in range(4):
            r.read_real()
        if bias_mode != FC_NO_BIAS or params.size != num_inputs * num_outputs:
            raise DlibStreamError(f"expected fc_no_bias {num_inputs}x{num_outputs} at byte {at}")
        if int(np.prod(weights_shape)) != params.size:
            raise DlibStreamError(f"fc_ weights shape {weights_shape} at byte {at}")
        return Fc(params.reshape(num_inputs, num_outputs).copy())
    raise DlibStreamError(f"unknown layer {name!r} at byte {at}")


def _read_layer_trailer(r: DlibReader, input_layer: bool) -> None:
    """add_layer's bookkeeping after the details; the tensors must be empty."""
    r.read_bool()  # this_layer_setup_called
    r.read_bool()  # gradient_input_is_stale
    r.read_bool()  # get_output_and_gradient_input_disabled
    n_tensors = 3  # x_grad, cached_output, then params_grad or grad_final
    for _ in range(n_tensors):
        if r.read_tensor().size:
            raise DlibStreamError(f"non-empty state tensor at byte {r.pos}")
    if input_layer:
        r.read_int()  # _sample_expansion_factor


def read_dlib_net(data: bytes) -> list[Layer]:
    """Parse the .dat stream into the layer chain, input first.

    dlib serialises the outermost object first but recurses into the sub-network before
    writing a layer's own details, so the file holds every wrapper's version number
    (outermost first), then the input layer, then each layer's details input-first.
    """
    r = DlibReader(data)
    if r.read_int() != LOSS_LAYER_VERSION:
        raise DlibStreamError("not a dlib add_loss_layer")
    r.expect_string("loss_metric_2")
    r.read_real()  # margin
    r.read_real()  # distance threshold

    versions: list[int] = []
    while True:
        version = r.read_int()
        if version == INPUT_LAYER_VERSION:
            break
        if version not in (LAYER_VERSION, WRAPPER_VERSION):
            raise DlibStreamError(f"unexpected layer version {version} at byte {r.pos}")
        versions.append(version)

    r.expect_string("input_rgb_image_sized")
    mean_rgb = (r.read_real(), r.read_real(), r.read_real())
    size_px = (r.read_int(), r.read_int())
    chain: list[Layer] = [InputLayer(mean_rgb, size_px), _read_details(r)]
    _read_layer_trailer(r, input_layer=True)

    for version in reversed(versions):
        if version == WRAPPER_VERSION:
            chain.append(Wrapper())
        else:
            chain.append(_read_details(r))
            _read_layer_trailer(r, input_layer=False)

    if r.pos != len(data):
        raise DlibStreamError(f"{len(data) - r.pos} bytes left over after the network")
    return chain


# ---------------------------------------------------------------------------------------
# The architecture (dnn_face_recognition_ex.cpp), input first


@dataclass(frozen=True)
class Step:
    """One entry of the expected chain; ``tag`` names the wrapper/add_prev target."""

    op: str  # input|conv|affine|relu|max_pool|avg_pool|avg_pool_all|tag|skip|add_prev|fc
    filters: int = 0
    kernel: int = 0
    stride: int = 1
    tag: int = 0


def _block(filters: int, stride: int) -> list[Step]:
    # block<N,BN,stride> = BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>
    return [
        Step("conv", filters, 3, stride),
        Step("affine"),
        Step("relu"),
        Step("conv", filters, 3, 1),
        Step("affine"),
    ]


def _ares(filters: int) -> list[Step]:
    # relu<add_prev1<block<N,affine,1,tag1<SUBNET>>>>
    return [Step("tag", tag=1), *_block(filters, 1), Step("add_prev", tag=1), Step("relu")]


def _ares_down(filters: int) -> list[Step]:
    # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<SUBNET>>>>>>>
    return [
        Step("tag", tag=1),
        *_block(filters, 2),
        Step("tag", tag=2),
        Step("skip", tag=1),
        Step("avg_pool", kernel=2, stride=2),
        Step("add_prev", tag=2),
        Step("relu"),
    ]


def expected_steps() -> list[Step]:
    steps = [Step("input"), Step("conv", 32, 7, 2), Step("affine"), Step("relu")]
    steps.append(Step("max_pool", kernel=3, stride=2))
    steps += _ares(32) * 3  # alevel4
    steps += _ares_down(64) + _ares(64) * 3  # alevel3
    steps += _ares_down(128) + _ares(128) * 2  # alevel2
    steps += _ares_down(256) + _ares(256) * 2  # alevel1
    steps += _ares_down(256)  # alevel0
    steps += [Step("avg_pool_all"), Step("fc", DESCRIPTOR_DIM)]
    return steps


def _dlib_default_padding(kernel: int, stride: int) -> int:
    # dlib con_/max_pool_/avg_pool_: padding = stride != 1 ? 0 : size/2
    return 0 if stride != 1 else kernel // 2


def check_chain(chain: list[Layer], steps: list[Step]) -> None:
    """Raise unless the parsed chain is exactly the expected architecture."""
    if len(chain) != len(steps):
        raise DlibStreamError(f"{len(chain)} layers in the file, {len(steps)} expected")
    for i, (layer, step) in enumerate(zip(chain, steps, strict=True)):
        where = f"layer {i} ({step.op})"
        ok: bool
        if step.op == "input":
            ok = (
                isinstance(layer, InputLayer)
                and layer.size_px == (CHIP_SIZE_PX, CHIP_SIZE_PX)
                and np.allclose(layer.mean_rgb, EXPECTED_MEAN_RGB, rtol=0, atol=MEAN_TOLERANCE)
            )
        elif step.op == "conv":
            pad = _dlib_default_padding(step.kernel, step.stride)
            ok = (
                isinstance(layer, Conv)
                and layer.num_filters == step.filters
                and layer.kernel == (step.kernel, step.kernel)
                and layer.stride == (step.stride, step.stride)
                and layer.padding == (pad, pad)
            )
        elif step.op == "affine":
            ok = isinstance(layer, Affine)
        elif step.op == "relu":
            ok = isinstance(layer, Relu)
        elif step.op in ("max_pool", "avg_pool"):
            pad = _dlib_default_padding(step.kernel, step.stride)
            ok = (
                isinstance(layer, Pool)
                and layer.kind == step.op[:3]
                and layer.size == (step.kernel, step.kernel)
                and layer.stride == (step.stride, step.stride)
                and layer.padding == (pad, pad)
            )
        elif step.op == "avg_pool_all":
            ok = isinstance(layer, Pool) and layer.kind == "avg" and layer.size == (0, 0)
        elif step.op in ("tag", "skip"):
            ok = isinstance(layer, Wrapper)
        elif step.op == "add_prev":
            ok = isinstance(layer, AddPrev)
        elif step.op == "fc":
            ok = isinstance(layer, Fc) and layer.weights.shape[1] == step.filters
        else:
            raise AssertionError(step.op)
        if not ok:
            raise DlibStreamError(f"{where}: file has {layer!r:.120}")


# ---------------------------------------------------------------------------------------
# Rebuilding the network in TensorFlow


@dataclass
class FoldedConv:
    """con_ followed by affine_, folded: HWIO kernel and bias in float32."""

    kernel_hwio: np.ndarray
    bias: np.ndarray
    stride: int
    same_padding: bool


def fold_conv_affine(conv: Conv, affine: Affine) -> FoldedConv:
    """gamma * (W*x + b) + beta == (gamma W)*x + (gamma b + beta), folded in float64."""
    gamma = affine.gamma.astype(np.float64)
    weights = conv.weights.astype(np.float64) * gamma[:, None, None, None]
    bias = conv.bias.astype(np.float64) * gamma + affine.beta.astype(np.float64)
    kernel_hwio = np.ascontiguousarray(weights.transpose(2, 3, 1, 0)).astype(np.float32)
    # dlib pads k//2 when stride is 1 (== TF "SAME" for odd k) and 0 otherwise ("VALID").
    return FoldedConv(kernel_hwio, bias.astype(np.float32), conv.stride[0], conv.padding[0] > 0)


def build_forward(chain: list[Layer], steps: list[Step]):  # -> tf.Module
    """A tf.Module whose ``forward`` computes dlib's forward pass on NHWC RGB 0..255."""
    import tensorflow as tf

    input_layer = chain[0]
    assert isinstance(input_layer, InputLayer)
    mean_rgb = np.array(input_layer.mean_rgb, dtype=np.float32)

    # Fold each affine into the conv before it; everything else is used as is.
    ops: list[tuple[Step, object]] = []
    i = 1
    while i < len(chain):
        layer, step = chain[i], steps[i]
        if isinstance(layer, Conv):
            affine = chain[i + 1]
            assert isinstance(affine, Affine)
            ops.append((step, fold_conv_affine(layer, affine)))
            i += 2
        else:
            ops.append((step, layer))
            i += 1

    def add_prev(x, y):
        """dlib add_prev: shapes differ -> elementwise max shape, missing entries are 0."""
        target = [max(a, b) for a, b in zip(x.shape[1:], y.shape[1:], strict=True)]

        def pad(t):
            extra = [[0, 0]] + [
                [0, want - have] for want, have in zip(target, t.shape[1:], strict=True)
            ]
            return t if not any(e[1] for e in extra) else tf.pad(t, extra)

        return pad(x) + pad(y)

    def forward(chip_rgb):
        x = (chip_rgb - tf.constant(mean_rgb)) * tf.constant(INPUT_SCALE, tf.float32)
        tags: dict[int, tf.Tensor] = {}
        for step, layer in ops:
            if isinstance(layer, FoldedConv):
                x = tf.nn.conv2d(
                    x,
                    tf.constant(layer.kernel_hwio),
                    strides=layer.stride,
                    padding="SAME" if layer.same_padding else "VALID",
                )
                x = tf.nn.bias_add(x, tf.constant(layer.bias))
            elif isinstance(layer, Relu):
                x = tf.nn.relu(x)
            elif isinstance(layer, Pool) and step.op == "avg_pool_all":
                x = tf.reduce_mean(x, axis=[1, 2])
            elif isinstance(layer, Pool):
                pool = tf.nn.max_pool2d if layer.kind == "max" else tf.nn.avg_pool2d
                x = pool(x, ksize=layer.size, strides=layer.stride, padding="VALID")
            elif step.op == "tag":
                tags[step.tag] = x
            elif step.op == "skip":
                x = tags[step.tag]
            elif isinstance(layer, AddPrev):
                x = add_prev(x, tags[step.tag])
            elif isinstance(layer, Fc):
                x = tf.matmul(x, tf.constant(layer.weights))
            else:
                raise AssertionError(step)
        # The dict key names the signature output; the app reads tensors by index anyway.
        return {"descriptor": x}

    spec = tf.TensorSpec([None, CHIP_SIZE_PX, CHIP_SIZE_PX, 3], tf.float32, name="chip_rgb")
    module = tf.Module()
    module.forward = tf.function(forward, input_signature=[spec], autograph=False)
    return module


def _tflite_convert(module, quant: str) -> bytes:
    import tensorflow as tf

    concrete_fn = module.forward.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete_fn], module)
    if quant in ("dynamic", "float16"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def keep_float_weights(
    quantised: bytes, reference: bytes, keep: tuple[tuple[str, int], ...]
) -> bytes:
    """Put float32 weights back into chosen ops of a dynamic-range quantised model.

    Args:
        quantised: the dynamic-range model (int8 weights).
        reference: the float32 conversion of the same graph.
        keep: ``(op name, n)`` for the n-th op of that kind, e.g. ``("CONV_2D", 0)``.

    Returns:
        The quantised model in which those ops have their float32 weights again; TFLite then
        runs them as plain float ops.

    Raises:
        ValueError: the two models do not have the same ops in the same order, or a kept
            op's weights are not what they should be.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    q_model = flatbuffer_utils.read_model_from_bytearray(bytearray(quantised))
    f_model = flatbuffer_utils.read_model_from_bytearray(bytearray(reference))
    q_graph, f_graph = q_model.subgraphs[0], f_model.subgraphs[0]

    def op_names(model, graph) -> list[str]:
        return [flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) for op in graph.operators]

    q_names, f_names = op_names(q_model, q_graph), op_names(f_model, f_graph)
    if q_names != f_names:
        raise ValueError("the float32 and quantised conversions have different ops")
    for name, nth in keep:
        indices = [i for i, n in enumerate(q_names) if n == name]
        if nth >= len(indices):
            raise ValueError(f"the model has no {name} #{nth}")
        weights_input = 1  # CONV_2D and FULLY_CONNECTED: (input, weights, bias)
        q_tensor = q_graph.tensors[q_graph.operators[indices[nth]].inputs[weights_input]]
        f_tensor = f_graph.tensors[f_graph.operators[indices[nth]].inputs[weights_input]]
        f_data = f_model.buffers[f_tensor.buffer].data
        if (
            q_tensor.type != schema.TensorType.INT8
            or f_tensor.type != schema.TensorType.FLOAT32
            or list(q_tensor.shape) != list(f_tensor.shape)
            or q_tensor.quantization.quantizedDimension != 0
        ):
            raise ValueError(f"{name} #{nth}: expected int8 weights quantised per output channel")
        # Per output channel: the int8 weights must be the float32 ones rounded.
        scale = np.asarray(q_tensor.quantization.scale, np.float32)
        scale = scale.reshape((-1,) + (1,) * (len(f_tensor.shape) - 1))
        q_values = np.asarray(q_model.buffers[q_tensor.buffer].data).view(np.int8)
        f_values = np.asarray(f_data).view(np.float32).reshape(f_tensor.shape)
        rounding_error = np.abs(q_values.reshape(q_tensor.shape) * scale - f_values)
        if np.any(rounding_error > ROUNDING_SLACK * scale):
            raise ValueError(f"{name} #{nth}: the float32 weights do not match the int8 ones")
        q_tensor.type = schema.TensorType.FLOAT32
        q_tensor.quantization = None
        q_model.buffers[q_tensor.buffer].data = f_data
    return bytes(flatbuffer_utils.convert_object_to_bytearray(q_model))


def convert(module, quant: str) -> bytes:
    """TFLite bytes for ``quant``; "dynamic" keeps the most sensitive layers in float32."""
    if quant != "dynamic":
        return _tflite_convert(module, quant)
    return keep_float_weights(
        _tflite_convert(module, "dynamic"), _tflite_convert(module, "float32"), KEEP_FLOAT_OPS
    )


def default_dat_path() -> Path:
    import face_recognition_models

    return Path(face_recognition_models.face_recognition_model_location())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dat", type=Path, help=f"{DAT_NAME} (default: face_recognition_models)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--quant",
        choices=QUANT_CHOICES,
        default=DEFAULT_QUANT,
        help="dynamic (default): int8 weights, float activations; float16: half-size weights",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    dat_path = args.dat or default_dat_path()
    data = dat_path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != DAT_SHA256:
        # Not fatal: a different training of the same net would still convert correctly.
        log.warning("%s sha256 %s differs from the pinned %s", dat_path, digest, DAT_SHA256)
    log.info("reading %s (%d bytes, sha256 %s)", dat_path, len(data), digest)

    chain = read_dlib_net(data)
    steps = expected_steps()
    check_chain(chain, steps)
    log.info("parsed %d layers; they match dnn_face_recognition_ResNet_model_v1", len(chain))

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Constant folding during conversion must not depend on the CPU's oneDNN code paths.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    tflite_bytes = convert(build_forward(chain, steps), args.quant)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(tflite_bytes)
    log.info(
        "wrote %s (%s, %d bytes, sha256 %s)",
        args.out,
        args.quant,
        len(tflite_bytes),
        hashlib.sha256(tflite_bytes).hexdigest(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
