from ingest.bronze.kafka_source import split_limit


def test_everything_when_under_the_limit():
    assert split_limit({"0": 5, "1": 0}, {"0": 10, "1": 3}, 100) == {"0": 10, "1": 3}


def test_limit_is_respected_exactly_and_shared_between_partitions():
    start = {"0": 0, "1": 100, "2": 0}
    end = {"0": 1_000, "1": 600, "2": 10}
    capped = split_limit(start, end, 300)
    taken = {p: capped[p] - start[p] for p in end}
    assert sum(taken.values()) == 300
    assert all(0 <= taken[p] <= end[p] - start[p] for p in end)
    assert taken["0"] > taken["1"] > taken["2"]


def test_always_makes_progress_with_a_tiny_limit():
    capped = split_limit({"0": 0, "1": 0, "2": 0, "3": 0}, {"0": 9, "1": 9, "2": 9, "3": 9}, 2)
    assert sum(capped.values()) == 2


def test_new_partition_starts_at_zero():
    assert split_limit({"0": 4}, {"0": 4, "1": 6}, 3) == {"0": 4, "1": 3}
