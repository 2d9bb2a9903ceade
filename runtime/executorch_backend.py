"""The ExecuTorch backend: one .pte program with frontend, encoder and decoder methods.

ExecuTorch's Python bindings take and return torch tensors, so this backend (alone in
runtime/) needs torch; it is imported only when a bundle says `backend: executorch`, and
torch is imported inside the constructor, never at module level.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from echo_edge.runtime.backend import Backend, BackendError
from echo_edge.runtime.bundle import GRAPH_INPUTS, GRAPHS, Manifest

INSTALL_HINT = "pip install 'echo-edge[export]' (executorch and torch)"


class ExecuTorchBackend(Backend):
    """Runs the three methods of a bundle's .pte program on the CPU (XNNPACK delegate)."""

    name = "executorch"

    def __init__(self, manifest: Manifest, threads: int = 0) -> None:
        super().__init__(manifest)
        try:
            import torch
            from executorch.runtime import Runtime
        except ImportError as e:
            raise BackendError(f"this bundle needs ExecuTorch: {INSTALL_HINT}") from e
        self._torch = torch
        if threads > 0:
            torch.set_num_threads(threads)
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
        # Outputs may alias the method's planned memory: copy before the next call.
        return [o.detach().float().numpy().copy() for o in outputs]

    def close(self) -> None:
        self.methods.clear()
        self.programs.clear()
