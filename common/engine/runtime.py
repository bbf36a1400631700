"""What local and remote inference both stand on: the one OpenVINO Core, the rt_info key that marks a server
model's stand-in, a request's outputs by name, and an OpenVINO error's gist. `inference.py` chooses between a
local model and a server's; `remote.py` and `remote_client.py` talk to the server; all three import this."""

from __future__ import annotations

from functools import cache

import numpy as np
import openvino as ov

REMOTE_RT_INFO = "ovdemo_remote"  # rt_info of a server model's stand-in (remote.py): its URL


@cache
def core() -> ov.Core:
    return ov.Core()


def first_error_line(error: Exception) -> str:
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip() and not ln.startswith("Exception from")]
    return lines[-1] if lines else type(error).__name__


class ModelOutputs:
    """A request's outputs, found by tensor name (any of its names, with or without a ':0' suffix)."""

    def __init__(self, arrays: list[tuple[frozenset[str], np.ndarray]]):
        self.arrays = arrays

    @classmethod
    def of(cls, request: ov.InferRequest, ports: list[tuple[frozenset[str], ov.Output]]) -> ModelOutputs:
        """A finished request's outputs, copied out of its tensors (which the next inference overwrites)."""
        return cls([(names, request.get_tensor(port).data.copy()) for names, port in ports])

    @staticmethod
    def ports(compiled: ov.CompiledModel) -> list[tuple[frozenset[str], ov.Output]]:
        return [(frozenset(o.get_names()), o) for o in compiled.outputs]

    def get(self, *names: str) -> np.ndarray | None:
        for wanted in names:
            for tensor_names, array in self.arrays:
                if wanted in tensor_names or any(n.split(":")[0] == wanted for n in tensor_names):
                    return array
        return None

    def __iter__(self):
        return iter(self.arrays)

    def describe(self) -> str:
        return "; ".join(f"{sorted(n)[0] if n else '?'} {list(a.shape)}" for n, a in self.arrays)
