"""Ballroom dataset (Gouyon et al. 2006; ISMIR 2004 tempo contest): 698 excerpts of ~30 s, 8 dances.

Layout of the published archive (``data1.tar.gz`` of the ISMIR 2004 tempo induction contest, MTG,
Universitat Pompeu Fabra), which unpacks to one folder per dance style::

    BallroomData/
      ChaChaCha/  Jive/  Quickstep/  Rumba-American/  Rumba-International/  Rumba-Misc/
      Samba/  Tango/  VienneseWaltz/  Waltz/          <- <Style>/<name>.wav, e.g.
                                                         ChaChaCha/Albums-Cafe_Paradiso-05.wav
      allBallroomFiles                                <- list of the files ("./<Style>/<name>.wav")

``root`` may be ``BallroomData/`` itself or the folder holding it. Data downloaded with mirdata
(``mirdata.initialize("ballroom").download()``) has the same style folders under
``<data_home>/B_1.0/audio/`` (mirdata unpacks ``BallroomData`` there); ``root`` may then be that
``audio`` folder, ``B_1.0``, the data home (``~/mir_datasets/ballroom``) or the folder holding it
(``~/mir_datasets``). The ten style folder names and
the ``allBallroomFiles`` list were checked against public code that reads the archive (mirdata's
Ballroom index, several beat-tracking repositories); the per-folder split of the 98 rumba excerpts
over the three rumba folders was not verified and is not relied on.

Classes (MCCLSTM Sec. 3.1, 8 classes, 698 tracks): the paper's names, with the three rumba folders
merged into one ``rumba`` class and ``Waltz`` named ``slow waltz``. Per-class counts found are
compared with :data:`EXPECTED_COUNTS` (the runner logs every difference and writes it to the
manifest). Track ids are file stems (``Albums-Cafe_Paradiso-05``), unique in the archive.

One file name, one track: a file name found in two style folders is one excerpt filed twice. If
the folders belong to one class (two rumba folders), the copy in the first folder (in the order
of :data:`FOLDER_CLASSES`) is used and the other goes to ``problems`` as a duplicate; if they
belong to different classes, the excerpt's label is ambiguous and no copy is used (all go to
``problems``, each naming the others).

Bad input: a missing folder or a class with none of its style folders raises
:class:`~common.errors.DatasetError` (with the layout); a missing rumba sub-folder, an empty,
truncated or unreadable audio file, a file listed in ``allBallroomFiles`` but absent, and the
copies of a file name found in several style folders (above) go to ``DatasetIndex.problems``;
other files go to ``unexpected``.
"""

from __future__ import annotations

from pathlib import Path


from common.datasets.base import DatasetIndex, Track, choose_file, require_folder
from common.errors import DatasetError

NAME = "ballroom"

CITATION = """@article{gouyon2006experimental,
  title={An experimental comparison of audio tempo induction algorithms},
  author={Gouyon, Fabien and Klapuri, Anssi and Dixon, Simon and Alonso, Miguel and
          Tzanetakis, George and Uhle, Christian and Cano, Pedro},
  journal={IEEE Transactions on Audio, Speech, and Language Processing},
  volume={14}, number={5}, pages={1832--1844}, year={2006}}"""

#: The paper's 8 classes (MCCLSTM Sec. 3.1), in the order used for class indices.
CLASSES = ("cha-cha-cha", "jive", "quickstep", "rumba", "samba", "tango", "viennese waltz", "slow waltz")

#: Style folder of the archive -> class. The three rumba folders together are the rumba class.
FOLDER_CLASSES = {
    "ChaChaCha": "cha-cha-cha",
    "Jive": "jive",
    "Quickstep": "quickstep",
    "Rumba-American": "rumba",
    "Rumba-International": "rumba",
    "Rumba-Misc": "rumba",
    "Samba": "samba",
    "Tango": "tango",
    "VienneseWaltz": "viennese waltz",
    "Waltz": "slow waltz",
}

#: Published per-class counts (MCCLSTM Sec. 3.1; 698 tracks in all).
EXPECTED_COUNTS = {"cha-cha-cha": 111, "jive": 60, "quickstep": 82, "rumba": 98, "samba": 86, "tango": 86,
                   "viennese waltz": 65, "slow waltz": 110}

#: The official archive (ISMIR 2004 tempo contest, "data1"): audio of the 698 excerpts.
ARCHIVE_URL = "https://mtg.upf.edu/ismir2004/contest/tempoContest/data1.tar.gz"
#: MD5 of ``data1.tar.gz`` (1,453,888,083 bytes) as given by two independent public download scripts
#: (one of which also pins SHA-256 ``e2f85f5ac230523498ca3b9addf225de19f1d4d1cb7d8724a40bc0044b7c5947``).
ARCHIVE_MD5 = "2872a3e52070bc342a4510a95e2fa0b8"

#: Which copy is used when one file name is in two style folders of one class (module text).
DUPLICATE_RULE = "Ballroom keeps the first in folder order"

#: Where the style folders may lie under ``root`` (module text): the archive unpacked, or mirdata's layout.
LAYOUT_CANDIDATES = (".", "BallroomData", "B_1.0/audio", "B_1.0/audio/BallroomData", "audio",
                     "audio/BallroomData", "ballroom/B_1.0/audio", "ballroom/B_1.0/audio/BallroomData")

#: The list of files shipped in the archive.
FILE_LIST = "allBallroomFiles"

LAYOUT = ("  <BALLROOM_DIR>/BallroomData/<Style>/<name>.wav   (data1.tar.gz unpacked; BALLROOM_DIR may also\n"
          "  be the BallroomData folder itself)\n"
          "  or, downloaded with mirdata, <BALLROOM_DIR>/B_1.0/audio/<Style>/<name>.wav\n"
          f"  with <Style> one of: {', '.join(FOLDER_CLASSES)}\n"
          f"  Get it from {ARCHIVE_URL} (make download-ballroom).")


def find_data_folder(root: str | Path) -> Path:
    """Locate the folder whose sub-folders are the dance styles.

    Args:
        root: ``BallroomData/`` or a folder holding it, or mirdata's ``B_1.0/audio/`` or a folder
            holding that (:data:`LAYOUT_CANDIDATES`, tried in that order).

    Returns:
        the folder holding ``ChaChaCha/``, ``Jive/``, ...

    Raises:
        DatasetError: ``root`` is missing or holds no style folder.
    """
    root = require_folder(Path(root), "Ballroom", LAYOUT, "BALLROOM_DIR")
    for folder in (root / candidate for candidate in LAYOUT_CANDIDATES):
        if folder.is_dir() and any((folder / style).is_dir() for style in FOLDER_CLASSES):
            return folder
    found = sorted(p.name for p in root.iterdir())[:10]
    raise DatasetError(f"Ballroom layout not recognised under {root}: no dance style folder found "
                       f"(it holds: {found}).\nExpected layout:\n{LAYOUT}")


def _listed_files(data_dir: Path) -> set[str]:
    """Relative paths (``<Style>/<name>.wav``) named in ``allBallroomFiles``, or empty if absent."""
    path = data_dir / FILE_LIST
    if not path.is_file():
        return set()
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise DatasetError(f"Ballroom: cannot read {path} ({exc})") from None
    return {line.strip().removeprefix("./") for line in lines if line.strip()}


def index(root: str | Path) -> DatasetIndex:
    """Index a Ballroom folder.

    Args:
        root: see :func:`find_data_folder`.

    Returns:
        :class:`DatasetIndex` with ``classes = CLASSES``, one :class:`Track` per readable ``.wav``
        in a style folder (``track_id`` the file stem, ``label`` the class of its folder; one per
        stem, see the module text), ``expected_counts = EXPECTED_COUNTS``, unusable files and
        second copies of a file name in ``problems``, stray files in
        ``unexpected``, and ``notes`` with the usable clips per style folder and the folder mapping.

    Raises:
        DatasetError: the folder is missing or mis-laid, a class has none of its style folders,
            or no readable excerpt is found.
    """
    data_dir = find_data_folder(root)
    present = {style for style in FOLDER_CLASSES if (data_dir / style).is_dir()}
    missing_classes = [c for c in CLASSES if not any(FOLDER_CLASSES[s] == c for s in present)]
    if missing_classes:
        folders = [s for s in FOLDER_CLASSES if FOLDER_CLASSES[s] in missing_classes]
        raise DatasetError(f"Ballroom at {data_dir}: no folder for class(es) {', '.join(missing_classes)} "
                           f"(expected folder(s): {', '.join(folders)}).\nExpected layout:\n{LAYOUT}")
    tracks, problems, unexpected = [], {}, []
    for style in FOLDER_CLASSES:
        if style not in present:
            problems[str(data_dir / style)] = (f"style folder missing: class {FOLDER_CLASSES[style]!r} is the "
                                               f"union of its folders, its count will be short")
    for entry in sorted(data_dir.iterdir()):
        if entry.name == FILE_LIST and entry.is_file():
            continue
        if entry.is_file() or entry.name not in FOLDER_CLASSES:
            unexpected.append(str(entry))
    listed = _listed_files(data_dir)
    copies: dict[str, list[tuple[str, Path]]] = {}
    for style in FOLDER_CLASSES:
        if style not in present:
            continue
        for path in sorted((data_dir / style).iterdir()):
            if not path.is_file() or path.suffix.lower() != ".wav" or path.name.startswith("."):
                unexpected.append(str(path))
                continue
            copies.setdefault(path.stem, []).append((style, path))
    for stem, found in copies.items():
        classes = sorted({FOLDER_CLASSES[style] for style, _ in found})
        if len(classes) > 1:
            for _, path in found:
                others = ", ".join(str(p) for _, p in found if p != path)
                problems[str(path)] = (f"same file name as {others}, in a folder of another class "
                                       f"({' vs '.join(classes)}): the label is ambiguous, no copy is used")
            continue
        kept, reasons = choose_file(stem, [path for _, path in found], DUPLICATE_RULE)
        problems.update(reasons)
        if kept is not None:
            tracks.append(Track(track_id=stem, path=kept, label=classes[0]))
    for relative in sorted(listed):
        if not (data_dir / relative).is_file():
            problems[str(data_dir / relative)] = f"listed in {FILE_LIST} but missing"
    if not tracks:
        raise DatasetError(f"Ballroom at {data_dir}: no readable excerpt found.\nExpected layout:\n{LAYOUT}")
    tracks.sort(key=lambda t: t.track_id)
    folder_counts = {style: sum(1 for t in tracks if t.path.parent.name == style) for style in FOLDER_CLASSES}
    return DatasetIndex(name=NAME, root=data_dir, classes=CLASSES, tracks=tracks, problems=problems,
                        unexpected=unexpected, expected_counts=dict(EXPECTED_COUNTS),
                        notes={"folder_counts": folder_counts, "folder_classes": dict(FOLDER_CLASSES)})


def download(destination: str | Path) -> Path:
    """Download the official archive (checksum-verified by pooch) and unpack it.

    Not tested in this project's CI (it has no network); the checksum is the MD5 that public
    download scripts pin for ``data1.tar.gz``.

    Args:
        destination: folder to unpack into; ``<destination>/BallroomData/`` is created.

    Returns:
        ``destination`` (pass it as ``BALLROOM_DIR``).

    Raises:
        DatasetError: the host could not be reached or the checksum did not match; the message
            says where to put a manually obtained copy.
    """
    import tarfile

    import pooch

    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    # A public download script reports the host answering 403 to curl's default User-Agent; send one
    # that names this project (whether the host accepts it is untested here).
    downloader = pooch.HTTPDownloader(headers={"User-Agent": "mir-repro dataset download (pooch)"},
                                      progressbar=True)
    try:
        archive = pooch.retrieve(ARCHIVE_URL, known_hash=f"md5:{ARCHIVE_MD5}", fname="data1.tar.gz",
                                 path=destination, downloader=downloader)
    except Exception as exc:  # noqa: BLE001 - network and checksum errors come in many types; all are reported
        raise DatasetError(f"Ballroom download failed: {ARCHIVE_URL}: {type(exc).__name__}: {exc}\n"
                           f"Obtain data1.tar.gz (md5 {ARCHIVE_MD5}) yourself and unpack it as\n{LAYOUT}\n"
                           f"with BALLROOM_DIR={destination}") from None
    with tarfile.open(archive) as tar:
        tar.extractall(destination, filter="data")
    return destination
