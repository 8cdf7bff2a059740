"""safetensors_np.py: a tiny safetensors reader/writer on numpy + json.

Format: 8-byte little-endian header length N, N bytes of JSON header
({name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}),
then the data block (offsets are relative to its start), little-endian, row-major.
"""
import json
import struct

import numpy as np

_DT = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U8": np.uint8, "BOOL": np.bool_,
}
_NAME = {np.dtype(v).str: k for k, v in _DT.items()}


def load(path):
    """Returns {name: numpy array} (copies, writable)."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError(f"{path}: truncated (no header length)")
    n = struct.unpack("<Q", buf[:8])[0]
    if 8 + n > len(buf):
        raise ValueError(f"{path}: header length {n} exceeds the file")
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    data = memoryview(buf)[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = _DT.get(info["dtype"])
        if dt is None:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {info['dtype']}")
        b, e = info["data_offsets"]
        if e > len(data):
            raise ValueError(f"{path}: tensor {name} runs past the end of the file")
        arr = np.frombuffer(data[b:e], dtype=np.dtype(dt).newbyteorder("<"))
        out[name] = arr.reshape(info["shape"]).astype(dt, copy=True)
    return out


def save(path, tensors, metadata=None):
    """Writes {name: numpy array} (any dtype in _DT), names sorted."""
    header = {}
    blobs = []
    off = 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        key = np.dtype(a.dtype).newbyteorder("<").str
        if a.dtype.byteorder not in ("<", "=", "|"):
            a = a.astype(a.dtype.newbyteorder("<"))
        dname = _NAME.get(np.dtype(a.dtype.type).str) or _NAME.get(key)
        if dname is None:
            raise ValueError(f"tensor {name}: unsupported dtype {a.dtype}")
        raw = a.tobytes()
        header[name] = {"dtype": dname, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = metadata or {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)  # keep the data block 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)
