"""Memory-mapped feature store and the clip-level tf.data pipeline that streams from it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from common.features.store import ClipFeatureStore, content_fingerprint
from common.training.pipeline import clip_dataset


def _arrays(n=7, shape=(3, 5), seed=0):
    rng = np.random.default_rng(seed)
    return {f"c{i}": rng.normal(-20, 10, shape).astype(np.float32) for i in range(n)}


def test_build_writes_a_memory_map_in_row_order(tmp_path):
    arrays = _arrays()
    ids = ["c3", "c0", "c6"]
    store = ClipFeatureStore.build(tmp_path / "s", ids, arrays.__getitem__, dtype="float32")
    assert isinstance(store.features, np.memmap)
    assert store.features.shape == (3, 3, 5) and store.features.dtype == np.float32
    np.testing.assert_array_equal(store.features[1], arrays["c0"])
    assert store.ids == tuple(ids) and len(store) == 3
    half = ClipFeatureStore.build(tmp_path / "h", ids, arrays.__getitem__)   # float16 default
    assert half.features.dtype == np.float16
    np.testing.assert_allclose(half.features[0], arrays["c3"], atol=0.02)


def test_store_is_reused_when_unchanged_and_rebuilt_when_contents_change(tmp_path):
    arrays = _arrays()
    ids = list(arrays)
    first = ClipFeatureStore.build(tmp_path / "s", ids, arrays.__getitem__)
    mtime = (tmp_path / "s" / "features.npy").stat().st_mtime_ns
    again = ClipFeatureStore.build(tmp_path / "s", ids, arrays.__getitem__)
    assert again.fingerprint == first.fingerprint
    assert (tmp_path / "s" / "features.npy").stat().st_mtime_ns == mtime
    arrays["c2"] = arrays["c2"] + 1.0
    changed = ClipFeatureStore.build(tmp_path / "s", ids, arrays.__getitem__)
    assert changed.fingerprint != first.fingerprint
    np.testing.assert_allclose(changed.features[2], arrays["c2"], atol=0.02)
    assert content_fingerprint(ids, arrays.__getitem__) == changed.fingerprint
    assert content_fingerprint(ids[::-1], arrays.__getitem__) != changed.fingerprint


def test_an_interrupted_or_damaged_store_is_not_used(tmp_path):
    arrays = _arrays()
    ids = list(arrays)
    ClipFeatureStore.build(tmp_path / "s", ids, arrays.__getitem__)
    (tmp_path / "s" / "meta.json").unlink()            # as after an interrupted write
    with pytest.raises(ValueError, match="no complete feature store"):
        ClipFeatureStore.open(tmp_path / "s")
    rebuilt = ClipFeatureStore.build(tmp_path / "s", ids, arrays.__getitem__)
    assert rebuilt.features.shape == (7, 3, 5)
    meta = json.loads((tmp_path / "s" / "meta.json").read_text())
    meta["n_clips"] = 8
    (tmp_path / "s" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="inconsistent"):
        ClipFeatureStore.open(tmp_path / "s")
    assert ClipFeatureStore.build(tmp_path / "s", ids, arrays.__getitem__).features.shape == (7, 3, 5)
    assert not [p for p in (tmp_path / "s").iterdir() if p.name.startswith(".")]   # no temporary left


def test_build_refuses_bad_inputs(tmp_path):
    arrays = _arrays()
    arrays["c1"] = np.zeros((3, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="c1: features of shape"):
        ClipFeatureStore.build(tmp_path / "a", list(arrays), arrays.__getitem__)
    with pytest.raises(ValueError, match="at least one clip"):
        ClipFeatureStore.build(tmp_path / "b", [], arrays.__getitem__)
    with pytest.raises(ValueError, match="dtype"):
        ClipFeatureStore.build(tmp_path / "c", ["c0"], arrays.__getitem__, dtype="int8")
    big = {"x": np.full((2, 2), 1e6, dtype=np.float32)}
    with pytest.raises(ValueError, match="non-finite"):
        ClipFeatureStore.build(tmp_path / "d", ["x"], big.__getitem__)


def test_clip_dataset_streams_aligned_batches_from_a_store(tmp_path):
    n = 11
    arrays = {str(i): np.full((4, 6), float(i), dtype=np.float32) for i in range(n)}
    targets = np.stack([np.full(3, float(i)) for i in range(n)]).astype(np.float32)
    store = ClipFeatureStore.build(tmp_path / "s", list(arrays), arrays.__getitem__)
    ds = clip_dataset(store.features, targets, 4, shuffle=True, seed=1)
    seen = []
    for epoch in range(2):
        order = []
        for x, y in ds:
            assert x.dtype.name == "float32" and x.shape[1:] == (4, 6) and y.shape[1:] == (3,)
            np.testing.assert_array_equal(x.numpy()[:, 0, 0], y.numpy()[:, 0])   # features and targets aligned
            order.extend(y.numpy()[:, 0].astype(int).tolist())
        assert sorted(order) == list(range(n))
        seen.append(order)
    assert seen[0] != seen[1]          # reshuffled every epoch
    plain = [x.numpy()[:, 0, 0].astype(int).tolist() for x in clip_dataset(store.features, None, 4, shuffle=False)]
    assert plain == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]
    with pytest.raises(ValueError, match="targets"):
        clip_dataset(store.features, targets[:3], 4, shuffle=False)


def test_split_stores_one_per_non_empty_part_and_their_root(tmp_path):
    from common.features.store import split_feature_stores, table_store_root
    from common.evaluation.splits import Split

    arrays = _arrays()
    split = Split(0, train=("c0", "c4", "c2"), validation=(), test=("c6", "c1"))
    stores = split_feature_stores(split, arrays, tmp_path / "fs", dtype="float32")
    assert set(stores) == {"train", "test"}                # no validation clips -> no store
    assert stores["test"].ids == ("c6", "c1")
    np.testing.assert_array_equal(stores["train"].features[2], arrays["c2"])
    assert (tmp_path / "fs" / "train" / "meta.json").is_file()
    assert table_store_root(tmp_path / "work" / "paper" / "table" / "scheme" / "fold_00") == \
        tmp_path / "work" / "paper" / "table" / "feature_store"


def test_standardized_view_and_streamed_elementwise_statistics():
    from common.features.store import StandardizedView, elementwise_mean_std

    rows = np.random.default_rng(3).normal(5.0, 2.0, (37, 4, 3)).astype(np.float32)
    rows[:, 0, 0] = 1.0                                     # a constant position: std floored
    mean, std = elementwise_mean_std(rows, floor=1e-3, block=8)
    np.testing.assert_allclose(mean, rows.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(std[1:], rows.std(axis=0)[1:], rtol=1e-4)
    assert std[0, 0] == pytest.approx(1e-3)
    view = StandardizedView(rows, mean, std)
    assert view.shape == rows.shape and len(view) == 37
    np.testing.assert_allclose(view[np.array([2, 5])], (rows[[2, 5]] - mean) / std, rtol=1e-5)
    x, = list(clip_dataset(view, None, 37, shuffle=False).take(1))
    np.testing.assert_allclose(x.numpy().mean(axis=0)[1:], 0.0, atol=1e-4)


def _peak_bytes_of_a_build(folder, n_clips, shape=(96, 128)):
    """Peak Python/NumPy heap (tracemalloc) while a store of ``n_clips`` generated clips is fingerprinted and built."""
    import tracemalloc

    def clip(clip_id):  # made on request, as a feature cache read-back is: nothing is held between calls
        return np.full(shape, float(int(clip_id[1:]) % 50), dtype=np.float32)

    ids = [f"c{i}" for i in range(n_clips)]
    tracemalloc.start()
    try:
        store = ClipFeatureStore.build(folder, ids, clip, dtype="float32")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(store.features[n_clips - 1], clip(ids[-1]))
    return peak


def test_a_store_build_holds_a_few_clips_in_memory_not_the_whole_split(tmp_path):
    clip_bytes = 96 * 128 * 4
    small = _peak_bytes_of_a_build(tmp_path / "small", 16)
    large = _peak_bytes_of_a_build(tmp_path / "large", 256)  # 12 MiB of features, written through a memory map
    assert large < 8 * clip_bytes, f"peak {large} bytes for 256 clips of {clip_bytes} bytes"
    assert large < 2 * small + clip_bytes  # flat in the number of clips
