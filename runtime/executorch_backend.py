"""The ExecuTorch backend: one .pte program with frontend, encoder and decoder methods.

ExecuTorch's Python bindings take and return torch tensors, so this backend (alone in
runtime/) needs torch; it is imported only when a bundle says `backend: executorch`, and
torch is imported inside the constructor, never at module level.

It does not load the ExecuTorch compiler: see `import_runtime`.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import Any

import numpy as np

from echo_edge.runtime.backend import Backend, BackendError
from echo_edge.runtime.bundle import GRAPH_INPUTS, GRAPHS, Manifest

INSTALL_HINT = "pip install 'echo-edge[export]' (executorch and torch)"
COMPILER = "executorch.exir"


def import_runtime() -> type:
    """executorch.runtime.Runtime, without running executorch.exir's package init.

    The bindings (executorch 1.5) import one module of the compiler package, exir._warnings,
    for a warning class; Python runs the package's __init__ first, and that loads the whole
    compiler (torch._dynamo, the edge dialects, torchao): most of the import time and memory
    of a runtime that only loads a .pte. So while the runtime imports, the package is a bare
    module whose __path__ is the real directory: submodules still import, the __init__ does
    not run. The stand-in is removed afterwards (with what was imported through it), so a
    later `import executorch.exir` (an export in the same process) gets the real package. If
    the bindings need more of the package than its submodules, the normal import runs.
    """
    if COMPILER in sys.modules:  # already loaded (e.g. by an export): nothing to save
        from executorch.runtime import Runtime

        return Runtime
    spec = importlib.util.find_spec("executorch")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("executorch is not installed")
    stand_in = types.ModuleType(COMPILER)
    stand_in.__path__ = [f"{spec.submodule_search_locations[0]}/exir"]
    sys.modules[COMPILER] = stand_in
    try:
        from executorch.runtime import Runtime
    except (AttributeError, ImportError):
        _forget(COMPILER, "executorch.runtime", "executorch.extension.pybindings")
        from executorch.runtime import Runtime
    finally:
        if sys.modules.get(COMPILER) is stand_in:
            _forget(COMPILER)
    return Runtime


def _forget(*packages: str) -> None:
    """Drop these modules and their submodules from sys.modules (the next import reloads)."""
    for name in list(sys.modules):
        if any(name == p or name.startswith(p + ".") for p in packages):
            del sys.modules[name]


def set_xnnpack_threads(threads: int) -> None:
    """Size ExecuTorch's threadpool, which runs every XNNPACK-delegated op of every method
    (one pool per process; torch.set_num_threads does not reach it). It starts with one thread
    per core, so without this `--threads 1` would still decode on all of them. The bindings'
    call is marked experimental: where it is missing the pool keeps its size."""
    from executorch.extension.pybindings import portable_lib

    get = getattr(portable_lib, "_threadpool_get_thread_count", None)
    reset = getattr(portable_lib, "_unsafe_reset_threadpool", None)
    if get is not None and reset is not None and get() != threads:
        reset(threads)


class ExecuTorchBackend(Backend):
    """Runs the three methods of a bundle's .pte program on the CPU (XNNPACK delegate)."""

    name = "executorch"

    def __init__(self, manifest: Manifest, threads: int = 0) -> None:
        super().__init__(manifest)
        try:
            import torch

            Runtime = import_runtime()  # noqa: N806 (a class)
        except ImportError as e:
            raise BackendError(f"this bundle needs ExecuTorch: {INSTALL_HINT}") from e
        self._torch = torch
        if threads > 0:
            torch.set_num_threads(threads)
            set_xnnpack_threads(threads)
        runtime = Runtime.get()
        self.programs: dict[str, Any] = {}
        self.methods: dict[str, Any] = {}
        for graph in GRAPHS:
            spec = manifest.graphs[graph]
            path = manifest.graph_file(graph)
            try:
                if path not in self.programs:
                    self.programs[path] = runtime.load_program(path)
                method = self.programs[path].load_method(spec.get("method", graph))
            except Exception as e:  # the bindings raise RuntimeError or their own types
                raise BackendError(f"cannot load method {graph} of {path}: {e}") from e
            if method is None:
                raise BackendError(f"{path} has no method {spec.get('method', graph)!r}")
            self.methods[graph] = method

    def run(self, graph: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        torch = self._torch
        inputs = [
            torch.from_numpy(np.asarray(feeds[name], order="C")) for name in GRAPH_INPUTS[graph]
        ]
        try:
            outputs = self.methods[graph].execute(inputs)
        except Exception as e:
            raise BackendError(f"ExecuTorch method {graph} failed: {e}") from e
        # Method.execute clones its outputs out of the method's planned memory (the bindings'
        # clone_outputs=True), so they outlive the next call without another copy.
        return [o.detach().float().numpy() for o in outputs]

    def close(self) -> None:
        self.methods.clear()
        self.programs.clear()
