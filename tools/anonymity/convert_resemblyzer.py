#!/usr/bin/env python3
"""Converts Resemblyzer's speaker encoder (GE2E, Apache-2.0) to the raw file the Rust tests read.

The integration tests of protected witnesses ask an independent speaker-verification model
whether what defence counsel hears is the witness's voice. They run the same model the
measurement script uses (`measure.py`, through the `resemblyzer` package), ported to Rust in
`tools/speaker/src/lib.rs`, because PyTorch is far too big to install in CI.

    pip download --no-deps resemblyzer==0.1.4 -d /tmp/rz && unzip -o /tmp/rz/*.whl -d /tmp/rz
    python3 tools/anonymity/convert_resemblyzer.py /tmp/rz/resemblyzer/pretrained.pt \
        tools/speaker/data/ge2e.bin

Needs only numpy: the legacy PyTorch checkpoint is a sequence of pickles followed by the raw
storages, read here without torch. Output: the 8-byte magic b"GE2Ev1\\0\\0", then float32
little-endian row-major tensors, in this order: for each LSTM layer 0..2 weight_ih (1024 x in),
weight_hh (1024 x 256), bias_ih (1024), bias_hh (1024); then linear.weight (256 x 256) and
linear.bias (256). Gate order within the 1024 rows is PyTorch's: input, forget, cell, output.

It also prints the embedding of a fixed synthetic mel input, computed here with numpy, which
`tools/speaker/src/lib.rs` checks its own forward pass against.
"""
import collections
import pickle
import struct
import sys

import numpy as np

storages = {}


class _Storage:
    def __init__(self, dtype):
        self.dtype, self.data = dtype, None


def _rebuild(storage, offset, size, stride, *_rest):
    return (storage, offset, tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild
        if module == "torch" and name.endswith("Storage"):
            return name
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected class {module}.{name}")

    def persistent_load(self, pid):
        _typ, stype, key, _loc, _size, _view = pid
        return storages.setdefault(key, _Storage(stype))


def load(path):
    with open(path, "rb") as f:
        for _ in range(3):  # magic number, protocol version, system info
            pickle.load(f)
        state = _Unpickler(f).load()["model_state"]
        for key in pickle.load(f):
            (n,) = struct.unpack("<q", f.read(8))
            st = storages[key]
            if st.dtype != "FloatStorage":
                raise ValueError(f"storage {key} is {st.dtype}")
            st.data = np.frombuffer(f.read(4 * n), dtype="<f4")
    tensors = {}
    for name, (st, off, size, stride) in state.items():
        count = int(np.prod(size))
        if stride != tuple(int(np.prod(size[i + 1:])) for i in range(len(size))):
            raise ValueError(f"{name} is not contiguous")
        tensors[name] = st.data[off:off + count].reshape(size).astype(np.float32)
    return tensors


ORDER = [f"lstm.{w}_l{layer}" for layer in range(3)
         for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")] + ["linear.weight", "linear.bias"]


def embed(t, mels):
    """The encoder's forward pass (resemblyzer VoiceEncoder.forward) for one partial."""
    sig = lambda x: 1.0 / (1.0 + np.exp(-x))
    x = mels
    for layer in range(3):
        wi, wh = t[f"lstm.weight_ih_l{layer}"], t[f"lstm.weight_hh_l{layer}"]
        b = t[f"lstm.bias_ih_l{layer}"] + t[f"lstm.bias_hh_l{layer}"]
        h, c, out = np.zeros(256, np.float32), np.zeros(256, np.float32), []
        for xt in x:
            g = wi @ xt + wh @ h + b
            i, f, gg, o = sig(g[:256]), sig(g[256:512]), np.tanh(g[512:768]), sig(g[768:])
            c = f * c + i * gg
            h = o * np.tanh(c)
            out.append(h)
        x = np.array(out)
    e = np.maximum(t["linear.weight"] @ h + t["linear.bias"], 0.0)
    return e / np.linalg.norm(e)


def main():
    tensors = load(sys.argv[1])
    with open(sys.argv[2], "wb") as out:
        out.write(b"GE2Ev1\0\0")
        for name in ORDER:
            out.write(np.ascontiguousarray(tensors[name], dtype="<f4").tobytes())
    frames = np.array([[abs(np.sin(0.1 * t + 0.3 * c)) for c in range(40)] for t in range(160)],
                      dtype=np.float32)
    e = embed(tensors, frames)
    print("embedding of the synthetic partial, first 8:", ", ".join(f"{v:.6f}" for v in e[:8]))
    print("sum:", f"{float(e.sum()):.6f}")


if __name__ == "__main__":
    main()
