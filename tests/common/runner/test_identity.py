"""Run identity: the code version follows the code that computes results, and only that."""

from pathlib import Path

from common.runner.identity import ContentHashes, code_version


def fake_repository(root: Path) -> Path:
    files = {
        "papers/__init__.py": "",
        "papers/toy/__init__.py": "",
        "papers/toy/tables.py": "from common.runner import Scheme\nfrom papers.toy.models import build\n",
        "papers/toy/models.py": '"""Models."""\nfrom common.models.layers import Mask\n\ndef build():\n    """Build."""\n    return 1\n',
        "papers/toy/bench.py": "x = 1\n",
        "common/__init__.py": "",
        "common/models/layers.py": "class Mask:\n    pass\n",
        "common/unrelated.py": "y = 2\n",
        "common/runner/__init__.py": "from common.unrelated import y\n",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_code_version_follows_imported_code_and_ignores_docs_and_unrelated_modules(tmp_path):
    repo = fake_repository(tmp_path)
    base = code_version("toy", repo)
    models = repo / "papers/toy/models.py"
    models.write_text(models.read_text().replace('"""Build."""', '"""Build a model (new docs)."""  # note'))
    assert code_version("toy", repo) == base  # docstrings and comments do not count
    for unrelated in ("papers/toy/bench.py", "common/unrelated.py"):
        (repo / unrelated).write_text("changed = True\n")
        assert code_version("toy", repo) == base, unrelated  # not imported by the table (runner not followed)
    (repo / "common/models/layers.py").write_text("class Mask:\n    scale = 2\n")
    changed = code_version("toy", repo)
    assert changed != base  # a module the models import
    models.write_text(models.read_text().replace("return 1", "return 2"))
    assert code_version("toy", repo) not in (base, changed)


def test_content_hashes_are_remembered_by_path_size_and_mtime(tmp_path):
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"abc")
    hashes = ContentHashes(tmp_path / "cache")
    first = hashes.of(audio)
    hashes.save()
    again = ContentHashes(tmp_path / "cache")
    assert again.of(audio) == first and not again._new  # read from the store, not hashed again
    audio.write_bytes(b"abcd")  # another size: seen even within one time-stamp tick
    assert ContentHashes(tmp_path / "cache").of(audio) != first


def test_table_code_version_covers_only_its_own_dataset_loader(tmp_path):
    """A table reads one dataset: editing another dataset's loader keeps its stored results valid."""
    files = {
        "papers/__init__.py": "",
        "papers/toy/__init__.py": "",
        "papers/toy/tables.py": "from common.datasets import gtzan, ballroom\nfrom common.models.layers import Mask\n",
        "common/__init__.py": "",
        "common/models/layers.py": "class Mask:\n    pass\n",
        "common/datasets/__init__.py": "",
        "common/datasets/base.py": "class Track:\n    pass\n",
        "common/datasets/gtzan.py": "from common.datasets.base import Track\nfrom common.datasets import extra\nG = 1\n",
        "common/datasets/extra.py": "E = 1\n",
        "common/datasets/ballroom.py": "from common.datasets.base import Track\nB = 1\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    gtzan_only = ("common.datasets.gtzan",)
    whole, table = code_version("toy", tmp_path), code_version("toy", tmp_path, datasets=gtzan_only)
    (tmp_path / "common/datasets/ballroom.py").write_text("from common.datasets.base import Track\nB = 2\n")
    assert code_version("toy", tmp_path, datasets=gtzan_only) == table  # another table's dataset
    assert code_version("toy", tmp_path) != whole  # the paper-wide version still sees it
    assert code_version("toy", tmp_path, datasets=()) == code_version("toy", tmp_path)  # unknown loader: all count
    for name, text in (("common/datasets/gtzan.py", "from common.datasets.base import Track\n"
                                                    "from common.datasets import extra\nG = 2\n"),
                       ("common/datasets/extra.py", "E = 2\n"),  # imported by the table's own loader
                       ("common/datasets/base.py", "class Track:\n    x = 1\n"),
                       ("common/models/layers.py", "class Mask:\n    y = 1\n")):
        (tmp_path / name).write_text(text)
        changed = code_version("toy", tmp_path, datasets=gtzan_only)
        assert changed != table, name
        table = changed


def test_dataset_modules_unwraps_partials():
    from functools import partial

    from common.datasets import gtzan, ismir2004
    from common.runner.identity import dataset_modules

    assert dataset_modules(gtzan.index) == ("common.datasets.gtzan",)
    assert dataset_modules(partial(ismir2004.index, subsets=("training",))) == ("common.datasets.ismir2004",)
