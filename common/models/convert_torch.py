"""A PyTorch original to an OpenVINO IR, from Open Model Zoo's PyTorch export arguments (the `pytorch_to_onnx.py`
arguments in each model's facts), run in its own process by `convert.py`: the model's code is imported from the
folders the arguments name, built with its parameters, given its weights, and converted by OpenVINO's PyTorch
front end (no ONNX file in between); inputs and outputs get the names the export would have given them.

    python -m ovdemo.common.models.convert_torch OUT.xml --model-name=... --import-module=... [--model-path=DIR ...]
        [--weights=FILE] --input-shape(s)=SHAPES --input-names=A,B --output-names=X,Y [--model-param=k=v ...]
        [--inputs-dtype=float] [--conversion-param=...] [--opset_version=N] [--output-file=...]

The last two and --conversion-param are ONNX export options: accepted and unused. Failures end the process with
one line on stderr naming what failed.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import sys


def _parameter(text: str) -> tuple[str, object]:
    name, _, value = text.partition("=")
    return name, ast.literal_eval(value)


def _shapes(text: str) -> list[list[int]]:
    value = ast.literal_eval(text if text.strip().startswith("[") else f"[{text}]")
    return [list(value)] if all(isinstance(v, int) for v in value) else [list(v) for v in value]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="convert_torch", allow_abbrev=True)
    parser.add_argument("output", help="the IR to write (.xml)")
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--import-module", required=True)
    parser.add_argument("--model-path", action="append", default=[])
    parser.add_argument("--weights")
    parser.add_argument("--input-shapes", type=_shapes, required=True)  # --input-shape abbreviates it, as in OMZ
    parser.add_argument("--input-names", required=True)
    parser.add_argument("--output-names", required=True)
    parser.add_argument("--model-param", type=_parameter, action="append", default=[])
    parser.add_argument("--inputs-dtype", default="float")
    parser.add_argument("--conversion-param", action="append", default=[])
    parser.add_argument("--opset_version")
    parser.add_argument("--output-file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        import torch
    except ImportError:
        sys.exit("torch is not installed: pip install 'ovdemo[convert]'")
    import openvino as ov

    sys.path[:0] = args.model_path
    try:
        module = importlib.import_module(args.import_module)
        network = getattr(module, args.model_name)(**dict(args.model_param))
    except (ImportError, AttributeError) as e:
        sys.exit(f"cannot build {args.model_name} from {args.import_module}: {e}")
    if args.weights:
        try:
            network.load_state_dict(torch.load(args.weights, map_location="cpu"))
        except (RuntimeError, OSError) as e:
            sys.exit(f"the weights {args.weights} do not load: {str(e).splitlines()[0]}")
    network.eval()
    dtype = {"float": torch.float32, "half": torch.float16, "double": torch.float64, "long": torch.int64,
             "int32": torch.int32, "int8": torch.int8, "uint8": torch.uint8, "short": torch.int16,
             "bool": torch.bool}[args.inputs_dtype]
    example = tuple(torch.zeros(shape, dtype=dtype) for shape in args.input_shapes)
    with torch.no_grad():
        model = ov.convert_model(network, example_input=example,
                                 input=[ov.PartialShape(shape) for shape in args.input_shapes])
    for port, name in zip(model.inputs, args.input_names.split(","), strict=False):
        port.get_tensor().set_names({name})
    for port, name in zip(model.outputs, args.output_names.split(","), strict=False):
        port.get_tensor().set_names({name})
    ov.save_model(model, args.output, compress_to_fp16=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
