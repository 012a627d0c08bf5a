"""Run identity: what determines a fold result, hashed, so a result is reused only when nothing changed.

A *unit of work* is one (scheme, fold). Its identity is a hash of everything that determines its
result:

- the scheme's name and settings (``Scheme.config``);
- the feature extractor's configuration (its fingerprint);
- the fold's split (the train / validation / test track ids);
- the epoch cap (None for the scheme's own setting) and the unit's seed;
- the code version of the models, protocols and the table's dataset loader (:func:`code_version`);
- the content of every audio file the fold reads (:class:`ContentHashes`).

Two units with the same identity compute the same thing (up to the non-determinism of the
hardware), so a stored record is reused; any change gives a new identity and a new record, kept
beside the old one (none overwrites another).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from pathlib import Path

from filelock import FileLock

from common.atomic_files import atomic_write_text
from common.datasets.base import Track

#: Modules that orchestrate runs and write outputs: they cannot change a fold's numbers, so an edit
#: to them does not invalidate stored results, and :func:`code_version` does not follow their imports.
ORCHESTRATION_MODULES = ("common.runner", "common.cli", "common.registry", "common.inference", "common.outputs")


def fingerprint(payload) -> str:
    """16 hex digits of the SHA-1 of ``payload`` as canonical JSON (sorted keys; unknown types via str)."""
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _source_digest(path: Path) -> str:
    """SHA-1 of a Python file's syntax tree without docstrings (comments and layout do not count)."""
    source = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return hashlib.sha1(source.encode()).hexdigest()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(getattr(body[0], "value", None), ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha1(ast.dump(tree, include_attributes=False).encode()).hexdigest()


def _module_file(name: str, root: Path) -> Path | None:
    """The file of a repository module ``a.b.c`` (``a/b/c.py`` or ``a/b/c/__init__.py``), or None."""
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_modules(path: Path) -> set[str]:
    """Names of the ``common`` / ``papers`` modules a file imports (absolute imports, as this repository writes them)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] in ("common", "papers")}


#: Package of the dataset loaders, one module per dataset (``common.datasets.gtzan``, ...).
DATASETS_PACKAGE = "common.datasets"


def _is_dataset_module(name: str) -> bool:
    """True for one dataset's loader module (``common.datasets.<dataset>``), not the shared ``base``."""
    parts = name.split(".")
    return (len(parts) == 3 and ".".join(parts[:2]) == DATASETS_PACKAGE
            and parts[2] not in ("base", "__init__"))


def _closure(roots: list[str], root: Path, skip) -> dict[str, Path]:
    """Repository modules reachable from ``roots`` through imports (``{name: file}``), not entering ``skip``."""
    pending, seen = list(roots), {}
    while pending:
        name = pending.pop()
        if name in seen or skip(name):
            continue
        path = _module_file(name, root)
        if path is None:
            continue  # ``from package import function``: the package itself is followed
        seen[name] = path
        parent = name.rsplit(".", 1)[0]
        if parent != name and parent not in seen:
            pending.append(parent)
        pending.extend(_imported_modules(path))
    return seen


def code_version(paper: str, repository: Path | None = None, datasets: tuple[str, ...] | None = None) -> str:
    """Hash of the code that computes a table's fold results.

    Covers ``papers/<paper>/tables.py`` and every repository module it imports, directly or
    through other modules (models, protocol, layers, features, training, datasets, ...), except
    :data:`ORCHESTRATION_MODULES`; each file is reduced to its syntax tree without docstrings. So
    editing documentation, comments, the runner or another paper keeps stored results valid,
    while any change of code that computes them invalidates them.

    A paper's ``tables.py`` imports the loaders of all its datasets, but one table reads one
    dataset: with ``datasets`` given, the only dataset modules (``common.datasets.<name>``; the
    shared ``common.datasets.base`` always counts) covered are those named and what they import,
    so a change to the Ballroom loader leaves the GTZAN table's stored results valid.

    Args:
        paper: paper package name (``"mcclstm"``).
        repository: repository root (default: the one this file is in).
        datasets: module names of the table's dataset loaders (``("common.datasets.gtzan",)``;
            :func:`dataset_modules`), or None (or empty: the loader's module is unknown) for every
            loader the paper imports.

    Returns:
        16 hex digits.
    """
    root = repository or Path(__file__).resolve().parents[2]

    def orchestration(name: str) -> bool:
        return any(name == m or name.startswith(m + ".") for m in ORCHESTRATION_MODULES)

    seen = {}
    if datasets:
        seen.update(_closure(list(datasets), root, orchestration))
        allowed = set(seen)

        def skip(name: str) -> bool:
            return orchestration(name) or (_is_dataset_module(name) and name not in allowed)
    else:
        skip = orchestration
    seen.update(_closure([f"papers.{paper}.tables"], root, skip))
    files = sorted(set(seen.values()))
    return fingerprint({str(p.relative_to(root)): _source_digest(p) for p in files})


def dataset_modules(index_function) -> tuple[str, ...]:
    """Module names of a dataset's loader: ``(index_function.__module__,)``, unwrapping ``functools.partial``.

    Args:
        index_function: a :class:`~common.runner.spec.DatasetSpec`'s ``index`` (a function or a partial of one).

    Returns:
        one module name (``("common.datasets.ballroom",)``), or ``()`` when the function has no module.
    """
    function = index_function
    while hasattr(function, "func"):
        function = function.func
    module = getattr(function, "__module__", None)
    return (module,) if module else ()


class ContentHashes:
    """SHA-256 of audio files' bytes, remembered by (resolved path, size, modification time).

    A file is read and hashed once; later runs reuse the stored hash while the file's size and
    ``mtime_ns`` are unchanged. A change that keeps both (an edit that restores the time stamp)
    is not seen: touch the file, or delete ``content_hashes.json``, to force hashing.

    The store is ``<cache_dir>/content_hashes.json``, updated atomically under a lock so that
    concurrent runs sharing a work folder never lose each other's entries.

    Args:
        cache_dir: folder of the store (created on first save).
    """

    def __init__(self, cache_dir: str | os.PathLike):
        self.path = Path(cache_dir) / "content_hashes.json"
        self._known: dict[str, list] = self._read()
        self._new: dict[str, list] = {}

    def _read(self) -> dict:
        try:
            stored = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return stored if isinstance(stored, dict) else {}

    def of(self, path: str | os.PathLike) -> str:
        """The SHA-256 hex digest of a file's bytes.

        Raises:
            OSError: the file cannot be read.
        """
        path = Path(path).resolve()
        stat = path.stat()
        known = self._known.get(str(path)) or self._new.get(str(path))
        if isinstance(known, list) and len(known) == 3 and known[:2] == [stat.st_size, stat.st_mtime_ns]:
            return known[2]
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        self._new[str(path)] = [stat.st_size, stat.st_mtime_ns, digest.hexdigest()]
        return digest.hexdigest()

    def save(self) -> None:
        """Merge the newly computed hashes into the store (atomic, under a lock)."""
        if not self._new:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock"):
            merged = {**self._read(), **self._new}
            atomic_write_text(self.path, json.dumps(merged, sort_keys=True))
        self._known, self._new = merged, {}


def tracks_digest(tracks: list[Track], hashes: ContentHashes) -> str:
    """Digest of the contents of a set of tracks: ``fingerprint({track_id: sha256})``."""
    return fingerprint({t.track_id: hashes.of(t.path) for t in tracks})


def unit_identity(*, scheme: str, config: dict, features: str, split: str, epochs: int | None, seed: int,
                  code: str, audio: str) -> tuple[str, dict]:
    """Identity of one (scheme, fold) unit: ``(16-hex identity, the payload it hashes)``.

    Args:
        scheme: scheme name.
        config: the scheme's settings (``Scheme.config``).
        features: the feature extractor's fingerprint.
        split: the fold's split fingerprint (``Split.fingerprint()``).
        epochs: epoch cap, or None.
        seed: the unit's seed.
        code: :func:`code_version` of the paper.
        audio: :func:`tracks_digest` of every track the fold reads.
    """
    payload = {"scheme": scheme, "config": config, "features": features, "split": split, "epochs": epochs,
               "seed": seed, "code": code, "audio": audio}
    return fingerprint(payload), payload


def file_code_version(path: str | os.PathLike, repository: Path | None = None) -> str:
    """Hash of a Python file outside the paper packages and of the repository code it imports.

    For a module a user hands to a table (:mod:`common.runner.scheme_module`): the file's syntax
    tree without docstrings, plus every ``common`` / ``papers`` module it imports, directly or
    through others (as :func:`code_version` follows them, orchestration modules left out). Imports
    of other files of the user's own (outside this repository) are not followed.

    Args:
        path: the ``.py`` file.
        repository: repository root (default: the one this file is in).

    Returns:
        16 hex digits.

    Raises:
        OSError: the file cannot be read.
    """
    root = repository or Path(__file__).resolve().parents[2]
    path = Path(path)

    def orchestration(name: str) -> bool:
        return any(name == m or name.startswith(m + ".") for m in ORCHESTRATION_MODULES)

    try:
        imported = sorted(_imported_modules(path))
    except SyntaxError:
        imported = []
    seen = _closure(imported, root, orchestration)
    return fingerprint({"file": _source_digest(path),
                        "imports": {str(p.relative_to(root)): _source_digest(p) for p in sorted(set(seen.values()))}})
