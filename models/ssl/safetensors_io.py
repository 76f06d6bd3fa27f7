"""A small reader of the safetensors format in NumPy, so converting a Hugging Face checkpoint needs no torch.

Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian unsigned header length N, N bytes of
JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the raw little-endian
tensor bytes, offsets counted from the end of the header. Every tensor is checked against the file before it is
read, so a truncated or corrupt file fails with an error naming the file and the tensor.
"""

import json
import math
import os

import numpy as np

# safetensors dtype -> NumPy dtype; BF16 has no NumPy type and is widened to float32 by hand.
_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?",
}


class CheckpointError(ValueError):
    """A checkpoint that cannot be converted; the message names the file and, where one is at fault, the tensor."""


def read_header(path):
    """(header dict without "__metadata__", offset of the data section) of a safetensors file."""
    size = os.path.getsize(path)
    with open(path, "rb") as file:
        prefix = file.read(8)
        if len(prefix) < 8:
            raise CheckpointError(f"{path}: truncated safetensors file ({size} bytes, no header length)")
        length = int.from_bytes(prefix, "little")
        if length > size - 8:
            raise CheckpointError(
                f"{path}: truncated or not a safetensors file (header of {length} bytes, file of {size} bytes)"
            )
        try:
            header = json.loads(file.read(length).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CheckpointError(f"{path}: not a safetensors file (its header is not JSON: {error})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: not a safetensors file (header is not a JSON object)")
    header.pop("__metadata__", None)
    return header, 8 + length


def _tensor_spec(path, name, info, data_size):
    """(numpy dtype string, shape, begin, end) of one header entry, checked against the data section."""
    try:
        dtype, shape, (begin, end) = info["dtype"], tuple(int(d) for d in info["shape"]), info["data_offsets"]
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path}: malformed header entry for tensor {name!r}: {info!r}") from None
    if dtype not in _DTYPES:
        raise CheckpointError(f"{path}: tensor {name!r} has unsupported dtype {dtype!r}")
    expected = math.prod(shape) * np.dtype(_DTYPES[dtype]).itemsize
    if end - begin != expected or begin < 0:
        raise CheckpointError(
            f"{path}: tensor {name!r} spans bytes {begin}..{end} but {dtype} {list(shape)} needs {expected} bytes"
        )
    if end > data_size:
        raise CheckpointError(
            f"{path}: truncated file: tensor {name!r} ends at data byte {end}, the file holds only {data_size}"
        )
    return _DTYPES[dtype], shape, begin, end, dtype


def read_safetensors(path, names=None):
    """Reads a safetensors file into {name: numpy array} (BF16 widened to float32).

    Args:
        path: the `.safetensors` file.
        names: optional iterable of tensor names to read (default: all).

    Raises:
        CheckpointError: a truncated or malformed file, naming the file and the tensor.
        FileNotFoundError: no such file.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such safetensors file: {path}")
    header, data_start = read_header(path)
    data_size = os.path.getsize(path) - data_start
    wanted = header.keys() if names is None else names
    tensors = {}
    with open(path, "rb") as file:
        for name in wanted:
            if name not in header:
                raise CheckpointError(f"{path}: no tensor named {name!r}")
            numpy_dtype, shape, begin, end, dtype = _tensor_spec(path, name, header[name], data_size)
            file.seek(data_start + begin)
            raw = file.read(end - begin)
            array = np.frombuffer(raw, dtype=numpy_dtype).reshape(shape)
            if dtype == "BF16":  # the upper 16 bits of a float32
                array = (array.astype(np.uint32) << 16).view(np.float32)
            tensors[name] = array
    return tensors
