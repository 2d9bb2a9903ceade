"""The TensorRT backend: one serialized engine per graph, run with the TensorRT 10 Python API.

Engines are built on the target device (`echo-edge export --backend tensorrt` on the Jetson)
with optimisation profiles for the dynamic axes. At run time each call sets the input
shapes on the execution context, binds device buffers by tensor name, launches
`execute_async_v3` on a CUDA stream and copies the outputs back. Device memory comes from
cuda-python's runtime bindings (no torch, no pycuda). Imported only for tensorrt bundles.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from echo_edge.runtime.backend import Backend, BackendError
from echo_edge.runtime.bundle import GRAPHS, Manifest

INSTALL_HINT = "TensorRT bundles need the tensorrt and cuda-python packages (JetPack ships both)"


def _cudart() -> Any:
    """cuda-python's runtime module under its current or its older import name."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError as e:
            raise BackendError(INSTALL_HINT) from e
    return cudart


def _check(result: tuple) -> Any:
    """Unpack a cuda-python call's (error, value...) tuple, raising on a CUDA error."""
    err, *values = result
    if int(err) != 0:
        raise BackendError(f"CUDA error {err}")
    return values[0] if len(values) == 1 else values or None


class DeviceBuffer:
    """A growable block of device memory for one tensor."""

    def __init__(self, cudart: Any) -> None:
        self.cudart = cudart
        self.ptr = 0
        self.nbytes = 0

    def reserve(self, nbytes: int) -> int:
        if nbytes > self.nbytes:
            self.free()
            self.ptr = int(_check(self.cudart.cudaMalloc(max(nbytes, 1))))
            self.nbytes = nbytes
        return self.ptr

    def free(self) -> None:
        if self.ptr:
            _check(self.cudart.cudaFree(self.ptr))
            self.ptr, self.nbytes = 0, 0


class TensorRTEngine:
    """One deserialized engine with its execution context and tensor buffers."""

    def __init__(self, trt: Any, cudart: Any, runtime: Any, path: str) -> None:
        with open(path, "rb") as f:
            engine = runtime.deserialize_cuda_engine(f.read())
        if engine is None:
            raise BackendError(
                f"cannot deserialize {path}: engines only run on the GPU and TensorRT "
                "version they were built with; rebuild it on this device"
            )
        self.trt, self.cudart, self.engine = trt, cudart, engine
        self.context = engine.create_execution_context()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        mode = trt.TensorIOMode.INPUT
        self.inputs = [n for n in names if engine.get_tensor_mode(n) == mode]
        self.outputs = [n for n in names if engine.get_tensor_mode(n) != mode]
        self.dtypes = {n: np.dtype(trt.nptype(engine.get_tensor_dtype(n))) for n in names}
        self.buffers = {n: DeviceBuffer(cudart) for n in names}

    def __call__(self, feeds: dict[str, np.ndarray], stream: Any) -> dict[str, np.ndarray]:
        cudart, context = self.cudart, self.context
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        hosts = []
        for name in self.inputs:
            host = np.asarray(feeds[name], dtype=self.dtypes[name], order="C")
            hosts.append(host)  # kept alive until the stream is synchronised
            if not context.set_input_shape(name, host.shape):
                raise BackendError(
                    f"TensorRT input {name} shape {host.shape} is outside the profile"
                )
            ptr = self.buffers[name].reserve(host.nbytes)
            _check(cudart.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes, h2d, stream))
            context.set_tensor_address(name, ptr)
        results = {}
        for name in self.outputs:
            shape = tuple(context.get_tensor_shape(name))
            out = np.empty(shape, dtype=self.dtypes[name])
            context.set_tensor_address(name, self.buffers[name].reserve(out.nbytes))
            results[name] = out
        if not context.execute_async_v3(stream):
            raise BackendError("TensorRT execute_async_v3 failed")
        for name, out in results.items():
            ptr = self.buffers[name].ptr
            _check(cudart.cudaMemcpyAsync(out.ctypes.data, ptr, out.nbytes, d2h, stream))
        _check(cudart.cudaStreamSynchronize(stream))
        return results

    def free(self) -> None:
        for buffer in self.buffers.values():
            buffer.free()


class TensorRTBackend(Backend):
    """frontend / encoder / decoder engines of a tensorrt bundle on the local GPU."""

    name = "tensorrt"

    def __init__(self, manifest: Manifest) -> None:
        super().__init__(manifest)
        try:
            import tensorrt as trt
        except ImportError as e:
            raise BackendError(INSTALL_HINT) from e
        self.cudart = _cudart()
        self.logger = trt.Logger(trt.Logger.WARNING)
        trt.init_libnvinfer_plugins(self.logger, "")
        runtime = trt.Runtime(self.logger)
        self.stream = _check(self.cudart.cudaStreamCreate())
        self.engines = {
            g: TensorRTEngine(trt, self.cudart, runtime, str(manifest.graph_file(g)))
            for g in GRAPHS
        }

    def run(self, graph: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        results = self.engines[graph](feeds, self.stream)
        return [results[name].astype(np.float32, copy=False) for name in self.outputs(graph)]

    def close(self) -> None:
        for engine in self.engines.values():
            engine.free()
        self.engines.clear()
        if self.stream is not None:
            _check(self.cudart.cudaStreamDestroy(self.stream))
            self.stream = None
