"""Dataset subsampling and splitting are reproducible for a seed and partition the frames."""

from __future__ import annotations

import pytest

from mlipscope.data.examples import load_example


@pytest.fixture(scope="module")
def data():
    return load_example("si_mlearn_test")


def test_subsample_is_reproducible(data):
    a, b = data.subsample(10, seed=7), data.subsample(10, seed=7)
    assert a.content_hash == b.content_hash and len(a) == 10
    assert data.subsample(10, seed=8).content_hash != a.content_hash
    positions = [data.frames.index(f) for f in a.frames]
    assert positions == sorted(positions)  # file order kept
    with pytest.raises(ValueError):
        data.subsample(26, seed=0)


def test_split_partitions_and_is_reproducible(data):
    train, test = data.split(0.2, seed=1)
    assert (len(train), len(test)) == (20, 5)
    ids_train = {id(f) for f in train}
    ids_test = {id(f) for f in test}
    assert not ids_train & ids_test and len(ids_train | ids_test) == len(data)
    train2, test2 = data.split(0.2, seed=1)
    assert (train2.content_hash, test2.content_hash) == (train.content_hash, test.content_hash)
    assert data.split(0.2, seed=2)[1].content_hash != test.content_hash


def test_filter_config_types(data):
    vacancy = data.filter_config_types(["Vacancy"])
    assert len(vacancy) == 7 and set(vacancy.config_types) == {"Vacancy"}
