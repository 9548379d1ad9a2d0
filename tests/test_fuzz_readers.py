"""Property-based fuzzing of every reader of user input.

Fuzzed: ``netdesc.validate.parse`` (mutated netdesc objects and companion tensors),
``netdesc.io.load`` (random / truncated / mutated JSON text and companion .npz files),
``rtl.hwconfig.parse_hw`` / ``HwConfig.resolved`` / ``load_hw`` (mutated hardware configs),
``cosearch.space.parse_space`` / ``load_space`` (mutations of ``cosearch/spaces/digits.json``),
``netdesc.arrays.read_npy`` / ``read_npz`` / ``netdesc.cli.read_inputs`` (random, truncated and header-mutated .npy / .npz
files, valid arrays of every dtype), ``cosearch.costdata.read_rows`` (random and mutated
JSON-lines rows, and what the rows it accepts are used for) and ``common.io.read_json``
(random bytes, deep nesting, huge integers).

The rule: a reader given bad input raises :class:`common.errors.TailorError` (``NetdescError``
is one) whose message is one line; any other exception escaping a reader is a bug.

Values that Hypothesis could not print (integers of thousands of digits, lists nested thousands
deep) are drawn as placeholder strings (``@@HUGE@@``, ``@@DEEP:n@@``) and expanded just before
the reader is called, so a failing example stays readable.
"""

import copy
import importlib.util
import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cosearch import costdata
from cosearch.space import KEYS as SPACE_KEYS
from cosearch.space import Space, load_space, parse_space
from netdesc.cli import read_inputs
from netdesc.io import load
from netdesc.model import Netdesc
from netdesc.ops import OPS
from netdesc.validate import INPUT_KEYS, TOP_KEYS, parse
from rtl.hwconfig import KEYS as HW_KEYS
from rtl.hwconfig import HwConfig, load_hw, parse_hw
from common.errors import TailorError
from common.io import read_json

from netdesc.arrays import read_npy, read_npz

FUZZ = settings(max_examples=150, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much,
                                       HealthCheck.function_scoped_fixture])

DIGITS_SPACE = json.loads((Path(__file__).parents[1] / "cosearch/spaces/digits.json").read_text())
HUGE_DIGITS = 5000  # beyond Python's 4300-digit int <-> str conversion limit
HUGE = (10 ** HUGE_DIGITS - 1) // 9 * 7  # 777...7, HUGE_DIGITS digits (int("7" * ...) is refused)


def only_tailor(fn, *args, **kwargs):
    """``fn(*args)``, or ``None`` if it raised a one-line :class:`TailorError`; any other
    exception propagates (the bug the tests look for)."""
    try:
        return fn(*args, **kwargs)
    except TailorError as e:
        msg = str(e)
        assert msg and "\n" not in msg and "\r" not in msg, f"TailorError message not one line: {msg!r}"
        return None


# -- JSON values -------------------------------------------------------------------------------

SPECIAL_INTS = [0, 1, -1, 2, 3, 4, 8, 16, 31, 32, 33, 62, 63, 64, 1024, 1025, 2 ** 31, 2 ** 32,
                2 ** 63 - 1, 2 ** 63, 2 ** 64, -2 ** 63, -2 ** 63 - 1, 10 ** 30, -10 ** 30]
SPECIAL_STRINGS = ["", " ", "\n", "a\nb", "\r", "\x00", "é", "\u2028", "😀", "x-a", "default",
                   "input", "c1", "c2", "a1", "p1", "g1", "fc", "c1.w", "c1.b", "fc.w",
                   "netdesc", "tailor-hw", "tailor-space", "auto", "block", "registers", "keep",
                   "shorten", "remove", "digits", "digits-small", "resnet8", "ecp5", "ice40",
                   "conv2d", "add", "maxpool2d", "global_avg_pool", "dense", "stem", "b1", "b3",
                   "b1_conv1", "b2_proj", "@@HUGE@@", "@@-HUGE@@", "@@DEEP:3000@@",
                   "@@DEEP:900@@"]

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-2 ** 70, max_value=2 ** 70),
    st.sampled_from(SPECIAL_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1.0, 0.5, -0.0, 1e308]),
    st.text(max_size=8),
    st.sampled_from(SPECIAL_STRINGS),
)
json_keys = st.one_of(st.text(max_size=6), st.sampled_from(SPECIAL_STRINGS))
json_values = st.recursive(
    scalars, lambda children: st.lists(children, max_size=4) | st.dictionaries(json_keys, children,
                                                                                 max_size=4),
    max_leaves=10)


def _expand(obj):
    """Replace placeholder strings by the values they stand for (see the module docstring)."""
    if isinstance(obj, str):
        if obj == "@@HUGE@@":
            return HUGE
        if obj == "@@-HUGE@@":
            return -HUGE
        if obj.startswith("@@DEEP:") and obj.endswith("@@"):
            v = [1]
            for _ in range(int(obj[7:-2])):
                v = [v]
            return v
        return obj
    if isinstance(obj, list):
        return [_expand(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _expand(v) for k, v in obj.items()}
    return obj


def _expand_text(text):
    """The same for JSON text: placeholders become huge literals and deep nesting."""
    text = text.replace('"@@HUGE@@"', "7" * HUGE_DIGITS).replace('"@@-HUGE@@"', "-" + "7" * HUGE_DIGITS)
    for n in (3000, 900):
        text = text.replace(f'"@@DEEP:{n}@@"', "[" * n + "1" + "]" * n)
    return text


def _paths(obj, path=()):
    yield path
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, path + (i,))


def _get(obj, path):
    for p in path:
        obj = obj[p]
    return obj


@st.composite
def mutated(draw, base, keys, max_mutations=3):
    """``base`` with 1..``max_mutations`` random edits at random paths: a value replaced (by a
    random JSON value or by a copy of another value of the object), a key or element dropped, a
    key or element inserted."""
    obj = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = list(_paths(obj))
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "replace", "copy", "drop", "insert"]))
        target = _get(obj, path)
        if op == "insert" or not path:
            if isinstance(target, dict):
                target[draw(keys)] = draw(json_values)
            elif isinstance(target, list):
                target.insert(draw(st.integers(0, len(target))), draw(json_values))
            elif not path and draw(st.integers(0, 9)) == 0:
                obj = draw(json_values)
            continue
        parent, last = _get(obj, path[:-1]), path[-1]
        if op == "replace":
            parent[last] = draw(json_values)
        elif op == "copy":
            donor = draw(st.sampled_from(paths))
            parent[last] = copy.deepcopy(_get(obj, donor))
        else:
            del parent[last]
    return obj


# -- netdesc objects and tensors ---------------------------------------------------------------

NETDESC_KEYS = sorted(TOP_KEYS | INPUT_KEYS | set().union(*(op.keys for op in OPS.values())) | {"x-note"})
netdesc_keys = st.one_of(st.sampled_from(NETDESC_KEYS), json_keys)

def _tiny_net():
    """The every-op tiny net of this folder's conftest.py, read by path: with tests/ and
    sim_tests/ collected together, ``import conftest`` may find the other folder's."""
    spec = importlib.util.spec_from_file_location("tests_conftest",
                                                  Path(__file__).with_name("conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._tiny_net()


TINY = _tiny_net()


def _npz_form(net):
    """``net`` with its weights and biases moved to a tensors dict (as ``netdesc.save`` does)."""
    net = copy.deepcopy(net)
    tensors = {}
    for layer in net["layers"]:
        for key, suffix in (("weights", "w"), ("bias", "b")):
            if layer.get(key) is not None:
                name = f"{layer['name']}.{suffix}"
                tensors[name] = np.array(layer[key], dtype=np.int64)
                layer[key] = name
    return net, tensors


TINY_NPZ, TINY_TENSORS = _npz_form(TINY)

DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
          np.float16, np.float32, np.float64, np.bool_, np.complex64, ">i4", ">u8", ">f8"]
dtypes = st.sampled_from(DTYPES).map(np.dtype)
shapes = st.one_of(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4),
                   st.sampled_from([t.shape for t in TINY_TENSORS.values()]))
arrays = st.tuples(dtypes, shapes).flatmap(lambda ds: hnp.arrays(ds[0], ds[1]))


@st.composite
def tensor_dicts(draw):
    """None, the tiny net's tensors, those with some replaced / recast / dropped, or random."""
    kind = draw(st.sampled_from(["none", "valid", "edited", "recast", "random"]))
    if kind == "none":
        return None
    tensors = {k: v.copy() for k, v in TINY_TENSORS.items()}
    if kind == "random":
        tensors = {}
    if kind == "recast":
        dt = draw(dtypes)
        tensors = {k: v.astype(dt) for k, v in tensors.items()}
    if kind in ("edited", "random"):
        names = st.one_of(st.sampled_from(sorted(TINY_TENSORS)), json_keys)
        for _ in range(draw(st.integers(1, 4))):
            name = draw(names)
            if name in tensors and draw(st.booleans()):
                del tensors[name]
            else:
                tensors[name] = draw(arrays)
    return tensors


netdesc_objects = st.one_of(mutated(TINY, netdesc_keys), mutated(TINY_NPZ, netdesc_keys))


@FUZZ
@given(obj=netdesc_objects, tensors=tensor_dicts())
@example(obj=dict(TINY, layers=[dict(TINY["layers"][0], weights=[[1], [[]]])]), tensors=None)
@example(obj=dict(TINY, layers=[dict(TINY["layers"][0], weights="@@DEEP:3000@@")]), tensors=None)
@example(obj=dict(TINY, layers=[dict(TINY["layers"][0], out_channels="@@HUGE@@")]), tensors=None)
@example(obj=dict(TINY, layers=TINY["layers"][:5] + [dict(TINY["layers"][5],
                                                          weights=[[1, None], [2, 3], [-4, 0]])]),
         tensors=None)
@example(obj=dict(TINY, format="@@HUGE@@"), tensors=None)
@example(obj=dict(TINY, format="@@DEEP:3000@@"), tensors=None)
def test_parse_netdesc(obj, tensors):
    result = only_tailor(parse, _expand(obj), source="f.json", tensors=tensors)
    assert result is None or isinstance(result, Netdesc)


# -- netdesc files -----------------------------------------------------------------------------

@st.composite
def corrupted(draw, data):
    """``data`` (bytes) unchanged, truncated, or with bytes flipped / inserted / deleted."""
    kind = draw(st.sampled_from(["same", "truncate", "flip", "insert", "delete"]))
    if kind == "same" or not data:
        return data
    if kind == "truncate":
        return data[:draw(st.integers(0, len(data) - 1))]
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(data) - 1)) if data else 0
        if kind == "flip" and data:
            data[i] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            del data[i:i + draw(st.integers(1, 8))]
    return bytes(data)


def _dumps(obj):
    return _expand_text(json.dumps(obj)).encode()


json_files = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([TINY, TINY_NPZ]).map(_dumps).flatmap(corrupted),
    netdesc_objects.map(_dumps),
    netdesc_objects.map(_dumps).flatmap(corrupted),
    st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 200_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.sampled_from([b"7" * HUGE_DIGITS, b"-" + b"7" * HUGE_DIGITS, b"1e99999", b"NaN",
                     b"\xff\xfe{}", b"\xef\xbb\xbf{}", b"\x00", b""]),
)


def _npz_bytes(tensors, compressed):
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **tensors)
    return buf.getvalue()


def _npy_bytes(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


@st.composite
def zip_with_members(draw):
    """A zip of random members: names with or without .npy, contents .npy or random bytes."""
    buf = io.BytesIO()
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    with zipfile.ZipFile(buf, "w", method) as z:
        for _ in range(draw(st.integers(0, 3))):
            name = draw(st.sampled_from(["c1.w.npy", "c1.b.npy", "fc.w.npy", "x.txt", "c1.w",
                                         "dir/c1.w.npy"]))
            data = draw(st.one_of(st.binary(max_size=64), arrays.map(_npy_bytes),
                                  st.sampled_from(list(TINY_TENSORS.values())).map(_npy_bytes)))
            z.writestr(name, data)
    return buf.getvalue()


@st.composite
def zip_fields_mutated(draw, data):
    """``data`` (a zip) with a version / flags / compression-method byte of its first local
    header or central-directory entry set to a random value."""
    data = bytearray(data)
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    offsets = [local + o for o in (4, 5, 6, 7, 8, 9)] + [central + o for o in (4, 6, 7, 8, 9, 10, 11)]
    for _ in range(draw(st.integers(1, 3))):
        data[draw(st.sampled_from(offsets))] = draw(st.integers(0, 255))
    return bytes(data)


def _zip_patched(flag=0, method=None, version=None):
    """The tiny net's tensors as an uncompressed .npz with its first member's general-purpose
    ``flag`` bits set, its compression ``method`` or its central "version needed" replaced."""
    data = bytearray(_npz_bytes(TINY_TENSORS, False))
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    data[local + 6] |= flag
    data[central + 8] |= flag
    if method is not None:
        data[local + 8] = data[central + 10] = method
    if version is not None:
        data[central + 6] = version
    return bytes(data)


BROKEN_ZIPS = [_zip_patched(flag=1), _zip_patched(flag=32), _zip_patched(flag=64),
               _zip_patched(method=99), _zip_patched(version=64)]

npz_files = st.one_of(
    st.booleans().map(lambda c: _npz_bytes(TINY_TENSORS, c)).flatmap(zip_fields_mutated),
    st.sampled_from(BROKEN_ZIPS),
    st.none(),
    st.binary(max_size=300),
    st.binary(max_size=300).map(lambda b: b"PK\x03\x04" + b),
    st.booleans().map(lambda c: _npz_bytes(TINY_TENSORS, c)).flatmap(corrupted),
    st.tuples(tensor_dicts().map(lambda t: t or {}), st.booleans()).map(
        lambda tc: _npz_bytes(tc[0], tc[1])),
    zip_with_members().flatmap(corrupted),
    st.sampled_from(list(TINY_TENSORS.values())).map(_npy_bytes),  # an .npy, not an .npz
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(text=json_files, npz=npz_files)
@example(text=_dumps(TINY_NPZ), npz=_npy_bytes(TINY_TENSORS["c1.w"]))
@example(text=b"[" * 3000 + b"]" * 3000, npz=None)
@example(text=b"7" * HUGE_DIGITS, npz=None)
@example(text=_dumps(TINY_NPZ), npz=_zip_patched(version=64))
def test_load_netdesc_file(workdir, text, npz):
    path = workdir / "net.json"
    path.write_bytes(text)
    npz_path = path.with_suffix(".npz")
    if npz is None:
        npz_path.unlink(missing_ok=True)
    else:
        npz_path.write_bytes(npz)
    result = only_tailor(load, path)
    assert result is None or isinstance(result, Netdesc)


# -- hardware configs --------------------------------------------------------------------------

NET = parse(TINY, source="tiny.json")
HW_NAMES = ["c1", "c2", "a1", "p1", "g1", "fc", "input", "c1.i", "a1.a", "a1.b", "a1.i", "fc.i",
            "p1.i", "c1.", ".i", "nope"]
hw_names = st.one_of(st.sampled_from(HW_NAMES), json_keys)
int_heavy = st.one_of(st.integers(-3, 40), st.sampled_from(SPECIAL_INTS), json_values)


@st.composite
def hw_objects(draw):
    obj = {}
    for key in draw(st.lists(st.sampled_from(HW_KEYS), unique=True)):
        if key == "format":
            obj[key] = draw(st.one_of(st.just("tailor-hw"), json_values))
        elif key == "version":
            obj[key] = draw(st.one_of(st.sampled_from([1, 1.0, True, 2]), json_values))
        elif key == "memory_style":
            obj[key] = draw(st.one_of(st.sampled_from(["auto", "block", "registers"]), json_values))
        else:
            obj[key] = draw(st.one_of(st.dictionaries(hw_names, int_heavy, max_size=5), json_values))
    if draw(st.integers(0, 9)) == 0:
        obj[draw(json_keys)] = draw(json_values)
    if draw(st.integers(0, 19)) == 0:
        return draw(json_values)
    return obj


@FUZZ
@given(obj=hw_objects())
@example(obj={"memory_style": {"a": 1}})
@example(obj={"parallelism": {"c1": "@@HUGE@@"}})
@example(obj={"memory_style": "@@DEEP:3000@@"})
def test_parse_hw(obj):
    hw = only_tailor(parse_hw, _expand(obj), NET, source="hw.json")
    assert hw is None or isinstance(hw, HwConfig)
    if hw is not None:
        resolved = only_tailor(hw.resolved, NET)
        assert resolved is None or isinstance(resolved, HwConfig)


# -- design spaces -----------------------------------------------------------------------------

space_keys = st.one_of(st.sampled_from(list(SPACE_KEYS) + ["stem", "b1", "b2", "b3", "b4",
                                                           "b1_conv1", "b2_proj", "b1_proj",
                                                           "fc", "default"]), json_keys)


@FUZZ
@given(obj=mutated(DIGITS_SPACE, space_keys))
@example(obj=dict(DIGITS_SPACE, model=["digits-small"]))
@example(obj=dict(DIGITS_SPACE, data={"digits": 1}))
@example(obj=dict(DIGITS_SPACE, skips=["@@DEEP:3000@@"]))
@example(obj=dict(DIGITS_SPACE, widths=[4, "@@HUGE@@"]))
@example(obj=dict(DIGITS_SPACE, **{"\n": 1}))
def test_parse_space(obj):
    space = only_tailor(parse_space, _expand(obj), source="s.json")
    assert space is None or isinstance(space, Space)


# -- arrays: .npy / .npz inputs ----------------------------------------------------------------

def _npy_with_header(header_text, data, version=1):
    h = header_text.encode("latin1" if version < 3 else "utf8", "replace")
    h += b" " * ((64 - (12 + len(h) + 1) % 64) % 64) + b"\n"
    if version == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h) % 65536) + h + data
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", len(h)) + h + data


descrs = st.one_of(
    st.sampled_from(["<i8", "|u1", "<f8", ">i4", "|b1", "<U3", "|S2", "|O", "|V0", "|V8", "<c16",
                     "<M8[s]", "<m8", "x", "", "<i0", "<f3", "i8"]),
    st.sampled_from([[("a", "<i4")], [("a", "<i4"), ("b", "<f8", (2,))], [("a",)], [1, 2],
                     [("a", "<i4", (10 ** 20,))], [("a", "<i4", (-1,))], [("", "<i4")],
                     [("a", "<i4"), ("a", "<i4")], [(("t", "a"), "<i4")]]),
    json_values,
)
header_shapes = st.one_of(
    st.lists(st.one_of(st.integers(0, 5), st.sampled_from(SPECIAL_INTS + [-1, -5])),
             max_size=5).map(tuple),
    json_values,
)


@st.composite
def npy_headers(draw):
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=80))
    header = {"descr": draw(descrs), "fortran_order": draw(st.one_of(st.booleans(), json_values)),
              "shape": draw(header_shapes)}
    for key in draw(st.lists(st.sampled_from(["descr", "fortran_order", "shape"]), max_size=1)):
        del header[key]
    if draw(st.integers(0, 9)) == 0:
        header[draw(st.text(max_size=5))] = draw(json_values)
    return repr(header)


net_input_shapes = st.one_of(st.just((1, 4, 4)), st.integers(0, 3).map(lambda n: (n, 1, 4, 4)),
                             hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4))
valid_arrays = st.tuples(dtypes, net_input_shapes).flatmap(lambda ds: hnp.arrays(ds[0], ds[1]))
fitting_inputs = st.tuples(st.sampled_from(DTYPES[:8] + [">i4", ">u8"]), net_input_shapes).flatmap(
    lambda ds: hnp.arrays(ds[0], ds[1], elements=st.integers(0, 127)))  # mostly valid inputs

array_files = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=200).map(lambda b: b"\x93NUMPY" + b),
    valid_arrays.map(_npy_bytes),
    fitting_inputs.map(_npy_bytes),
    valid_arrays.map(_npy_bytes).flatmap(corrupted),
    st.builds(_npy_with_header, npy_headers(), st.binary(max_size=128), st.sampled_from([1, 2, 3])),
    npz_files.map(lambda b: b or b""),  # (map: one branch here, not flattened into nine)
)


@FUZZ
@given(data=array_files)
@example(data=_npy_with_header(repr({"descr": "<f8", "fortran_order": False, "shape": (10 ** 12,)}),
                               b"\0" * 8))
@example(data=_npy_with_header(repr({"descr": "<f8", "fortran_order": False, "shape": (10 ** 30,)}),
                               b"\0" * 8))
@example(data=_npy_with_header("{", b""))
@example(data=_zip_patched(flag=1))
def test_array_readers_and_read_inputs(workdir, data):
    path = workdir / "x.npy"
    path.write_bytes(data)
    arr = only_tailor(read_npy, path)
    assert arr is None or (isinstance(arr, np.ndarray) and arr.dtype.kind in "iu")
    arrays = only_tailor(read_npz, path)
    assert arrays is None or all(isinstance(a, np.ndarray) for a in arrays.values())
    result = only_tailor(read_inputs, NET, path)
    if result is not None:
        x, single = result
        assert x.dtype == np.int64 and x.ndim == 4 and isinstance(single, bool)


# -- cost-data rows ----------------------------------------------------------------------------

ROW = {"key": '{"skip:b1":"keep","target":"ecp5"}', "index": 0, "point": {"skip:b1": "keep"},
       "target": "ecp5", "replicate": 0, "weight_seed": 1, "status": "ok", "LUT": 100, "FF": 50,
       "BRAM": 0, "DSP": 0, "LUTRAM": 0, "cycles": 64, "latency_cycles": 80, "seconds": {"total": 1.0}}
FAILED_ROW = {"key": ROW["key"], "index": 0, "point": ROW["point"], "target": "ecp5",
              "replicate": 1, "status": "failed", "error": "X: y", "seconds": {"total": 1.0}}
row_keys = st.one_of(st.sampled_from(sorted(ROW) + ["error", "replicates"]), json_keys)

row_lines = st.one_of(
    st.sampled_from([ROW, FAILED_ROW, dict(ROW, replicate=1)]).map(lambda r: json.dumps(r).encode()),
    st.sampled_from([ROW, FAILED_ROW]).flatmap(lambda r: mutated(r, row_keys)).map(_dumps),
    st.sampled_from([dict(ROW, key=["a"]), dict(ROW, key={"a": 1}), dict(ROW, status=1),
                     dict(ROW, status=None), dict(ROW, LUT="many"), dict(ROW, replicate=[0]),
                     {"key": "k", "status": "ok"}]).map(lambda r: json.dumps(r).encode()),
    st.binary(max_size=40),
    st.text(max_size=40).map(lambda s: s.encode("utf8", "surrogatepass")),
    st.sampled_from([b"\xff\xfe", b"\x80", b"7" * HUGE_DIGITS, b"[" * 100_000, b"", b"  ",
                     b"NaN", b"{}"]),
)
rows_files = st.lists(row_lines, max_size=6).map(b"\n".join)


@FUZZ
@given(data=rows_files)
@example(data=b"\xff")
@example(data=b"[" * 3000)
@example(data=b"7" * HUGE_DIGITS)
def test_read_rows(workdir, data):
    path = workdir / "rows.jsonl"
    path.write_bytes(data)
    rows = only_tailor(costdata.read_rows, path)
    assert rows is None or (isinstance(rows, list) and all(isinstance(r, dict) for r in rows))


@FUZZ
@given(data=rows_files)
@example(data=json.dumps(dict(ROW, key=["a"])).encode())
@example(data=b"\n".join(json.dumps(r).encode() for r in ({"key": "k", "status": "ok"},
                                                          {"key": "k", "status": "ok", "replicate": 1})))
def test_rows_read_are_usable(workdir, data):
    """What :func:`costdata.run` and :func:`costdata.design_rows` do with the rows read_rows
    accepts (hash the key with the replicate, compare the status, average the metrics) must not
    fail with anything but a TailorError: a row they cannot use is a malformed row."""
    path = workdir / "rows.jsonl"
    path.write_bytes(data)
    rows = only_tailor(costdata.read_rows, path)
    if rows is None:
        return

    def use(rows):
        done = {(row["key"], costdata.replicate_of(row)) for row in rows}
        failed = [row for row in rows if row["status"] != "ok"]
        return done, failed, costdata.design_rows(rows)

    only_tailor(use, rows)


# -- JSON files in general ---------------------------------------------------------------------

generic_json = st.one_of(
    st.binary(max_size=300),
    json_values.map(_dumps).flatmap(corrupted),
    st.sampled_from([json.dumps(DIGITS_SPACE).encode(), json.dumps({"parallelism": {"c1": 2}}).encode()]
                    ).flatmap(corrupted),
    st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 200_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.integers(1, 20_000).map(lambda n: b"9" * n),
    st.integers(1, 20_000).map(lambda n: b'{"parallelism": {"c1": ' + b"9" * n + b"}}"),
    st.sampled_from([b"\xff\xfe{}", b"\xef\xbb\xbf{}", b"\x00", b"", b"1e99999", b"-Infinity"]),
)


@FUZZ
@given(data=generic_json)
@example(data=b"[" * 3000 + b"]" * 3000)
@example(data=b"7" * HUGE_DIGITS)
def test_read_json_and_its_users(workdir, data):
    path = workdir / "any.json"
    path.write_bytes(data)
    only_tailor(read_json, path)
    only_tailor(load_hw, path, NET)
    only_tailor(load_space, path)
