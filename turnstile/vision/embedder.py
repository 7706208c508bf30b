"""Face embeddings from a TFLite model run with the LiteRT runtime (``ai-edge-litert``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from turnstile.errors import ImageError, ModelFileError

log = logging.getLogger(__name__)


class FaceEmbedder:
    """Maps aligned face chips to L2-normalised embeddings.

    Tensor contract of the shipped model (``assets/MODELS.md``): input ``[N, S, S, 3]`` RGB
    pixel values 0..255 (float32, or quantised: the scale and zero point are read from the
    interpreter); the model subtracts its own mean and scales. Output ``[N, D]``, the raw
    descriptor, which is L2-normalised here. ``S`` and ``D`` are read from the model, never
    assumed.

    One instance must be used by one thread at a time (a LiteRT interpreter is not
    thread-safe); the vision worker owns its own.

    Args:
        model_path: the ``.tflite`` file.
        num_threads: CPU threads the interpreter may use.

    Raises:
        ModelFileError: the file cannot be loaded or does not look like a face embedder.
    """

    def __init__(self, model_path: str | Path, num_threads: int = 2) -> None:
        self._model_path = str(model_path)
        self.num_threads = num_threads
        """Threads of :meth:`embed` (``one_thread=False``)."""
        self._interpreter = self._load(num_threads)
        inp = self._interpreter.get_input_details()[0]
        out = self._interpreter.get_output_details()[0]
        shape = [int(v) for v in inp["shape"]]
        if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3 or len(out["shape"]) != 2:
            raise ModelFileError(
                f"Face embedding model {model_path} has input {shape} and output "
                f"{list(out['shape'])}; expected [N, S, S, 3] -> [N, D]."
            )
        self.chip_px: int = shape[1]
        """Side of the square RGB chip the model takes."""
        self.dim: int = int(out["shape"][1])
        """Length of an embedding."""
        self._in_index = inp["index"]
        self._out_index = out["index"]
        self._in_dtype = inp["dtype"]
        self._in_scale, self._in_zero = inp["quantization"]
        self._out_scale, self._out_zero = out["quantization"]
        self._dynamic_batch = int(inp["shape_signature"][0]) == -1
        self._batch = shape[0]
        self._interpreter.allocate_tensors()
        self._solo: Any = None  # a one-thread interpreter, made on first use
        self._solo_batch = shape[0]

    def _load(self, num_threads: int) -> Any:
        from ai_edge_litert.interpreter import Interpreter

        try:
            return Interpreter(model_path=self._model_path, num_threads=num_threads)
        except (ValueError, RuntimeError) as exc:
            raise ModelFileError(
                f"Face embedding model {self._model_path} cannot be loaded: {exc}") from None

    def embed(self, chips_rgb: npt.NDArray[np.uint8], one_thread: bool = False
              ) -> npt.NDArray[np.float32]:
        """Embed aligned chips.

        Args:
            chips_rgb: ``uint8 (N, S, S, 3)`` RGB chips (or one ``(S, S, 3)`` chip).
            one_thread: use one CPU thread, whatever :attr:`num_threads` says (the door does
                when its liveness check works on the other core meanwhile); the same
                embeddings either way.

        Returns:
            ``float32 (N, D)`` unit-length embeddings (``(D,)`` for one chip).

        Raises:
            ImageError: the chips are not ``S x S`` RGB.
        """
        single = chips_rgb.ndim == 3
        batch = chips_rgb[None] if single else chips_rgb
        if batch.ndim != 4 or batch.shape[1:] != (self.chip_px, self.chip_px, 3):
            raise ImageError(
                f"Face chips must be {self.chip_px}x{self.chip_px} RGB, got {chips_rgb.shape}."
            )
        solo = one_thread and self.num_threads != 1
        if solo and self._solo is None:
            self._solo = self._load(1)
            self._solo.allocate_tensors()
        interpreter = self._solo if solo else self._interpreter
        if self._dynamic_batch:
            current = self._solo_batch if solo else self._batch
            if len(batch) != current:
                interpreter.resize_tensor_input(self._in_index, [len(batch), *batch.shape[1:]])
                interpreter.allocate_tensors()
                if solo:
                    self._solo_batch = len(batch)
                else:
                    self._batch = len(batch)
            raw = self._invoke(interpreter, batch)
        else:
            raw = np.concatenate([self._invoke(interpreter, batch[i:i + 1])
                                  for i in range(len(batch))])
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        embeddings = (raw / np.maximum(norms, 1e-12)).astype(np.float32)
        return embeddings[0] if single else embeddings

    def _invoke(self, interpreter: Any, batch: npt.NDArray[np.uint8]
                ) -> npt.NDArray[np.float32]:
        if self._in_scale:
            data = np.round(batch / self._in_scale + self._in_zero).astype(self._in_dtype)
        else:
            data = batch.astype(self._in_dtype)
        interpreter.set_tensor(self._in_index, data)
        interpreter.invoke()
        raw = interpreter.get_tensor(self._out_index).astype(np.float32)
        if self._out_scale:
            raw = (raw - self._out_zero) * self._out_scale
        return raw

