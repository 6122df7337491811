"""Files written safely: the target checked before any work, every write atomic (a temporary file renamed over the
target), so an interrupted run never leaves a half-written file. Checkpoints, JSON results and the data scripts'
outputs all go through `write_atomically`."""
import json
import os
import pathlib
import uuid

from .errors import InvalidValue, MissingFile


def check_writable(path):
    """Raise a clear error unless a file can be written at `path` (its folders are created); call it before the
    work whose results go there."""
    path = pathlib.Path(path)
    if path.is_dir():
        raise InvalidValue(f"cannot write JSON to {path}: it is a folder; give a file name, e.g. {path / 'out.json'}")
    probe = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
    except OSError as error:
        raise InvalidValue(f"cannot write JSON to {path} ({error.strerror or error}); give a path in a writable "
                           f"folder") from error
    finally:
        if probe.parent.is_dir():
            probe.unlink(missing_ok=True)


def write_atomically(path, write):
    """Call `write(temporary)` for a temporary file beside `path` (named `.<name>.<random>.tmp`), then rename it
    over `path`: readers never see half a file, and an interrupted write leaves the previous one. Returns `path`."""
    path = pathlib.Path(path)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def write_json(path, payload):
    """Write `payload` as indented JSON to `path`, atomically (folders created)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda temporary: temporary.write_text(json.dumps(payload, indent=2)))


def read_json(path):
    """The JSON value in the file at `path`, or a clear error if it is missing or not JSON."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise MissingFile(f"no JSON file at {path}: check the path")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidValue(f"{path} is not valid JSON ({error}); give the file a previous run wrote") from error
