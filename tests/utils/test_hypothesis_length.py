"""Long-hypothesis share (looping decoders): hypothesis > ratio × reference, characters without spaces."""

import pytest

from espnet_ext.utils.hypothesis_length import long_hypothesis_share


def test_one_of_four_looping():
    refs = {"u1": "好的", "u2": "我们 like 吃饭", "u3": "hello world", "u4": "你好吗"}
    hyps = {"u1": "好的好的好的",        # 6 > 1.5 × 2: looping
            "u2": "我们 like 吃饭 吃饭",  # 10 chars vs 8: not > 12
            "u3": "hello    world",     # spaces not counted: 10 vs 10
            "u4": "你好吗你"}            # 4 vs 3: not > 4.5
    share, count, n, examples = long_hypothesis_share(refs, hyps)
    assert (share, count, n) == (25.0, 1, 4)
    assert examples == [("u1", 2, 6)]


def test_boundary_is_strict_and_ratio_is_a_parameter():
    refs, hyps = {"u1": "ab"}, {"u1": "abc"}  # 3 == 1.5 × 2: not longer
    assert long_hypothesis_share(refs, hyps)[:3] == (0.0, 0, 1)
    assert long_hypothesis_share(refs, hyps, ratio=1.2)[:3] == (100.0, 1, 1)


def test_missing_hypothesis_counts_as_empty():
    refs = {"u1": "你好", "u2": "abc", "u3": "好"}
    share, count, n, examples = long_hypothesis_share(refs, {"u3": "好好好好"})  # u1, u2 missing: empty
    assert (count, n) == (1, 3) and share == pytest.approx(100 / 3)
    assert examples == [("u3", 1, 4)]


def test_examples_longest_first_and_capped():
    refs = {f"u{i}": "ab" for i in range(4)}
    hyps = {"u0": "a" * 4, "u1": "a" * 9, "u2": "a" * 6, "u3": "a" * 9}
    share, count, n, examples = long_hypothesis_share(refs, hyps, max_examples=2)
    assert (share, count, n) == (100.0, 4, 4)
    assert examples == [("u1", 2, 9), ("u3", 2, 9)]


def test_empty_reference_and_empty_set():
    assert long_hypothesis_share({"u1": ""}, {"u1": "x"})[:3] == (100.0, 1, 1)
    assert long_hypothesis_share({"u1": ""}, {"u1": ""})[:3] == (0.0, 0, 1)
    assert long_hypothesis_share({}, {}) == (0.0, 0, 0, [])
