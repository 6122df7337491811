"""A disk cache of deterministic results: a training run or a probe computed once is read back, not recomputed,
by any later chapter, build or command that asks for exactly the same computation.

A key hashes everything the result depends on: the bytes of every tensor involved (data, weights), the method's
class and settings, the seed and training settings, torch's version, the device type, the CPU thread count
(float sums depend on it) and the source code of the installed minidgl itself, so that an edit to the package
starts a fresh cache. Methods defined outside minidgl are never cached: their code is not part of any key.

Entries live in `$MINIDGL_CACHE` (default `~/.cache/minidgl/results`), one folder per source version; the
newest `KEEP_VERSIONS` are kept. `MINIDGL_CACHE=off` turns the cache off (everything is recomputed). While a
process computes an entry it holds a lock file beside it, and another process that asks for the same entry
waits and reads it back (two chapters executed side by side train their shared runs once).
"""
import contextlib
import dataclasses
import functools
import hashlib
import os
import pathlib
import shutil
import weakref

import torch

from .files import write_atomically
from .runtime import resolve_device

try:
    import fcntl
except ImportError:  # not POSIX (Windows): no lock; two processes may compute the same entry and both store it
    fcntl = None

KEEP_VERSIONS = 2
_tensor_digests = {}  # id(tensor) -> (weakref to it, its _version when hashed, digest)
_computing = []  # the key whose lock this process holds, if any


def root():
    """The cache folder, or `None` when `MINIDGL_CACHE=off`."""
    setting = os.environ.get("MINIDGL_CACHE", "")
    if setting.lower() == "off":
        return None
    return pathlib.Path(setting or "~/.cache/minidgl/results").expanduser()


@functools.cache
def source_version():
    """A digest of every `.py` file of the minidgl package that is imported."""
    package = pathlib.Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def tensor_digest(x):
    """A digest of a tensor's dtype, shape and values; remembered per tensor until it is modified in place."""
    seen = _tensor_digests.get(id(x))
    if seen is not None and seen[0]() is x and seen[1] == x._version:
        return seen[2]
    values = x.detach().cpu().contiguous()
    digest = hashlib.sha256(f"{values.dtype}{tuple(values.shape)}".encode())
    digest.update(values.reshape(-1).view(torch.uint8).numpy())
    _tensor_digests[id(x)] = (weakref.ref(x), x._version, digest.hexdigest())
    return _tensor_digests[id(x)][2]


def describe(value):
    """A canonical string for `value`: tensors by digest, datasets by their tensors and class names, dicts,
    sequences and dataclasses by their items, minidgl methods by class and public settings, others by `repr`."""
    from .data import MultimodalDataset, Splits
    from .methods import Method

    if isinstance(value, torch.Tensor):
        return f"tensor:{tensor_digest(value)}"
    if isinstance(value, Splits):
        return describe([value.train, value.val, value.test])
    if isinstance(value, MultimodalDataset):
        return describe({"inputs": value.inputs, "labels": value.labels, "class_names": value.class_names})
    if isinstance(value, Method):
        settings = {k: v for k, v in vars(value).items() if not k.startswith("_")}
        return f"{type(value).__module__}.{type(value).__qualname__}{describe(settings)}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{v}" for k, v in sorted((describe(k), describe(v)) for k, v in value.items())) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(describe(v) for v in value) + "]"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return type(value).__qualname__ + describe({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    return repr(value)


def cacheable(method_or_module):
    """Whether a result of this method or module may be cached: the code of every class it runs comes from
    minidgl (or, for a module's layers, from torch), so that `source_version()` covers it."""
    if isinstance(method_or_module, torch.nn.Module):
        classes = [type(m) for m in method_or_module.modules()]
        return all(cls.__module__.split(".")[0] in ("minidgl", "torch") for cls in classes)
    return all(cls.__module__.split(".")[0] == "minidgl" for cls in type(method_or_module).__mro__
               if cls is not object)


def key(kind, device, **parts):
    """The key of a `kind` of result (e.g. `"run"`) computed on `device` from `parts`."""
    context = {"kind": kind, "torch": torch.__version__, "device": torch.device(device).type,
               "threads": torch.get_num_threads(), "parts": parts}
    return hashlib.sha256(describe(context).encode()).hexdigest()


def training_key(kind, data, config, **parts):
    """The key of a `kind` of result of training on `data` with `config` (a `TrainConfig`; its `progress` bar
    changes nothing), plus `parts`, on the device `config` names."""
    settings = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name != "progress"}
    return key(kind, resolve_device(config.device), data=data, config=settings, **parts)


def computed(key, compute, enabled=True):
    """The value stored under `key`, or else `compute()`, stored there for the next call; if another process
    is computing it, wait for that and read it back. With `enabled=False` (a computation the key cannot
    describe), always `compute()`, and nothing is stored."""
    if not enabled:
        return compute()
    stored = load(key)
    if stored is None:
        with _computing_alone(key):
            stored = load(key)
            if stored is None:
                stored = compute()
                save(key, stored)
    return stored


@contextlib.contextmanager
def _computing_alone(key):
    """Hold `key`'s lock file (waiting while another process holds it). A process that already holds one takes
    no other, so that it never waits while holding a lock: two processes cannot wait for each other."""
    version = _version_folder()
    if version is None or fcntl is None or _computing:
        yield
        return
    path = version / f"{key}.lock"
    with open(path, "w") as lock:  # closing it releases the lock, as a crash does
        fcntl.flock(lock, fcntl.LOCK_EX)
        _computing.append(key)
        try:
            yield
        finally:
            _computing.pop()
            # The entry is stored by now, and whoever holds a lock looks for it again before computing (see
            # `computed`): removing the file cannot make anyone compute it twice.
            path.unlink(missing_ok=True)


def load(key):
    """The value stored under `key`, or `None` (also when the cache is off or the entry unreadable)."""
    folder = root()
    path = folder / source_version() / f"{key}.pt" if folder else None
    if path is None or not path.exists():
        return None
    try:
        return torch.load(path, weights_only=False)
    except Exception:
        path.unlink(missing_ok=True)
        return None


def save(key, value):
    """Store `value` (anything `torch.save` takes) under `key`; a no-op when the cache is off. The file is
    written under a temporary name and renamed, so concurrent runs never read half an entry."""
    version = _version_folder()
    if version is not None:
        write_atomically(version / f"{key}.pt", lambda temporary: torch.save(value, temporary))


def _version_folder():
    """The folder of this source version's entries (created when new, and then the oldest versions removed),
    or `None` when the cache is off."""
    folder = root()
    if folder is None:
        return None
    version = folder / source_version()
    if not version.exists():
        version.mkdir(parents=True, exist_ok=True)
        _prune(folder)
    return version


def _prune(folder):
    versions = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in versions[KEEP_VERSIONS:]:
        shutil.rmtree(old, ignore_errors=True)
