from elad.tasks import synthetic


def test_load_is_deterministic_and_pool_hides_answers():
    a = synthetic.load(list(synthetic.FAMILIES), 60, 30, seed=3)
    b = synthetic.load(list(synthetic.FAMILIES), 60, 30, seed=3)
    assert a == b
    assert all(e.answer is None for e in a.pool)
    assert all(e.answer is not None for e in a.test)
    assert not {e.question for e in a.pool} & {e.question for e in a.test}
    assert {e.task for e in a.pool} == set(synthetic.FAMILIES)


def test_different_seeds_give_different_questions():
    a = synthetic.load(["arithmetic"], 20, 5, seed=0)
    b = synthetic.load(["arithmetic"], 20, 5, seed=1)
    assert [e.question for e in a.pool] != [e.question for e in b.pool]


def test_solutions_by_hand():
    steps, answer = synthetic.solve(
        "Start with 3. First, add 4. Second, subtract 6. What is the result?")
    assert steps == ["First, add 4: 3 + 4 = 7", "Second, subtract 6: 7 - 6 = 1"]
    assert answer == "1"
    steps, answer = synthetic.solve(
        "A coin is heads up. Ann flips it. Bob does not flip it. Is the coin still heads up?")
    assert steps == ["heads, Ann flips it: tails", "tails, Bob does not flip it: tails"]
    assert answer == "no"
    steps, answer = synthetic.solve("What is the largest of 4, 9, 2?")
    assert steps == ["Larger of 4 and 9: 9", "Larger of 9 and 2: 9"] and answer == "9"


def test_instances_mix_easy_and_hard():
    data = synthetic.load(list(synthetic.FAMILIES), 600, 10, seed=0)
    lengths = {family: set() for family in synthetic.FAMILIES}
    for e in data.pool:
        lengths[e.task].add(len(synthetic.solve(e.question)[0]))
    assert lengths["arithmetic"] == {1, 2, 3, 4, 5}
    assert lengths["coin_flip"] == {1, 2, 3, 4, 5, 6}
    assert lengths["largest"] == {1, 2, 3, 4, 5}


def test_gold_answers_match_the_solver():
    data = synthetic.load(list(synthetic.FAMILIES), 10, 50, seed=1)
    for e in data.test:
        assert synthetic.solve(e.question)[1] == e.answer
