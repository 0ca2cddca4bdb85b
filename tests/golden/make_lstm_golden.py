"""Golden values for the engine's Lstm layer (src/Nn/Recurrent/Lstm.cs) from torch.nn.LSTM.

Run with Debian's python3-torch: /usr/bin/python3 tests/golden/make_lstm_golden.py
Writes tests/golden/lstm/lstm.safetensors (Float64), per case <case>.<name>:
  parameters under torch's names (weight_ih_l0, ..., _reverse), input x, initial states h0 and c0 (when given),
  outputs output, h_n, c_n, the weights vy, vh, vc of the scalar loss
  sum(output*vy) + sum(h_n*vh) + sum(c_n*vc), and its gradients grad.<parameter> and grad.x.
"""
import os
import torch
from make_gpt2_golden import write_safetensors

CASES = [
    # name, input size, hidden, layers, bias, batch_first, bidirectional, initial states, input shape
    ("bi2", 3, 4, 2, True, True, True, True, (2, 5, 3)),
    ("uni1", 3, 2, 1, False, False, False, False, (4, 2, 3)),
    ("bi1_unbatched", 2, 3, 1, True, True, True, False, (4, 2)),
]


def main():
    torch.manual_seed(16)
    out = {}
    for name, inp, hid, layers, bias, bf, bi, states, shape in CASES:
        lstm = torch.nn.LSTM(inp, hid, num_layers=layers, bias=bias, batch_first=bf, bidirectional=bi).double()
        x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
        dirs = 2 if bi else 1
        batch = [] if len(shape) == 2 else [shape[0] if bf else shape[1]]
        if states:
            h0 = torch.randn(layers * dirs, *batch, hid, dtype=torch.float64)
            c0 = torch.randn(layers * dirs, *batch, hid, dtype=torch.float64)
            y, (hn, cn) = lstm(x, (h0, c0))
            out[f"{name}.h0"], out[f"{name}.c0"] = h0, c0
        else:
            y, (hn, cn) = lstm(x)
        vy, vh, vc = torch.randn_like(y), torch.randn_like(hn), torch.randn_like(cn)
        loss = (y * vy).sum() + (hn * vh).sum() + (cn * vc).sum()
        loss.backward()
        for p_name, p in lstm.named_parameters():
            out[f"{name}.{p_name}"] = p.detach()
            out[f"{name}.grad.{p_name}"] = p.grad
        out.update({f"{name}.x": x.detach(), f"{name}.grad.x": x.grad, f"{name}.output": y.detach(),
                    f"{name}.h_n": hn.detach(), f"{name}.c_n": cn.detach(),
                    f"{name}.vy": vy, f"{name}.vh": vh, f"{name}.vc": vc})
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lstm")
    os.makedirs(folder, exist_ok=True)
    write_safetensors(os.path.join(folder, "lstm.safetensors"), out)


if __name__ == "__main__":
    main()
