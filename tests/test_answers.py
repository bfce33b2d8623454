from elad.answers import format_explanation, normalize_answer, parse_explanation


def test_round_trip_of_the_explanation_format():
    text = format_explanation(["First, add 4: 3 + 4 = 7", "Second, subtract 2: 7 - 2 = 5"], "5")
    assert text.endswith("The answer is 5.")
    parsed = parse_explanation(text, "number")
    assert parsed.steps == ["First, add 4: 3 + 4 = 7", "Second, subtract 2: 7 - 2 = 5"]
    assert parsed.answer == "5"


def test_missing_or_malformed_answer_is_none():
    assert parse_explanation("3 and 4: 4\n3 and", "number").answer is None
    assert parse_explanation("heads\nThe answer is maybe.", "yesno").answer is None


def test_text_after_the_answer_line_is_ignored():
    parsed = parse_explanation("a\nThe answer is yes.\nextra", "yesno")
    assert parsed.steps == ["a"] and parsed.answer == "yes"


def test_number_normalization():
    assert normalize_answer("1,234", "number") == "1234"
    assert normalize_answer("$18.", "number") == "18"
    assert normalize_answer("2.50", "number") == "2.5"
    assert normalize_answer("seven", "number") is None
    assert normalize_answer(" Yes ", "yesno") == "yes"
