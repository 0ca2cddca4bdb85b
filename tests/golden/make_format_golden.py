"""Writes format.json: PyTorch's str() of the tensors FormatTests builds. Run with Debian's python3-torch:
    /usr/bin/python3 tests/golden/make_format_golden.py
Each case must stay in sync with the factory of the same name in tests/Engine.Tensor.Tests/FormatTests.cs."""
import json, math, os
import torch

inf, nan = math.inf, math.nan
cases = {
    "matrix": torch.tensor([[1., 2.], [3., 4.]]),
    "fractions": torch.tensor([0.1, 2.5]),
    "negative": torch.tensor([-1.5, 0., 2.25]),
    "int64": torch.tensor([1, 2, 3]),
    "int32": torch.tensor([1, -20, 3], dtype=torch.int32),
    "bool": torch.tensor([True, False]),
    "scalar": torch.tensor(3.5),
    "scalar_int": torch.tensor(7),
    "float64": torch.tensor([1.5, -2.25], dtype=torch.float64),
    "zeros": torch.zeros(3),
    "wide_range_integers": torch.tensor([1., 2000.]),
    "tiny": torch.tensor([1e-5, 1.]),
    "huge": torch.tensor([1e9, 1.]),
    "infinity": torch.tensor([inf, 1.]),
    "nan": torch.tensor([nan, 1.5]),
    "all_nonfinite": torch.tensor([nan, -inf]),
    "half_even": torch.tensor([0.03125, 1.0], dtype=torch.float64),
    "wraps": torch.arange(20.),
    "wraps_int": torch.arange(30),
    "cube": torch.arange(24.).reshape(2, 3, 4) / 4,
    "empty": torch.zeros(0),
    "empty_2d": torch.zeros(2, 0),
    "empty_int64": torch.zeros(0, dtype=torch.int64),
    "long_vector": torch.arange(2000.),
    "long_rows": torch.arange(3000.).reshape(3, 1000),
    "many_rows": torch.arange(2000).reshape(200, 10),
    "summarized_cube": (torch.arange(1200.).reshape(4, 5, 60) / 8),
}
out = {name: str(t) for name, t in cases.items()}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "format.json")
with open(path, "w") as f:
    json.dump({"torch": torch.__version__, "cases": out}, f, indent=1)
    f.write("\n")
