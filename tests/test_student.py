"""The student's batched operations agree with one-at-a-time ones; training trains."""

import json
import random

import pytest
import torch

from elad.answers import format_explanation
from elad.config import StudentConfig
from elad.student import export_student
from elad.student.hf import HFStudent
from elad.student.tiny import build_tiny_student
from elad.tasks import synthetic
from elad.tasks.curriculum import beginning
from elad.training import batch_loss, packed, packs


@pytest.fixture(scope="module")
def student() -> HFStudent:
    data = synthetic.load(list(synthetic.FAMILIES), 80, 10, seed=0)
    pairs = [(e.question, format_explanation(*synthetic.solve(e.question))) for e in data.pool]
    config = StudentConfig(vocab_size=512, hidden_size=32, layers=2, heads=2,
                           max_length=256, batch_size=16, max_new_tokens=60)
    student = build_tiny_student([q for q, _ in pairs] + [t for _, t in pairs], config,
                                 seed=0)
    student.train(pairs, steps=200, lr=5e-3, seed=0)
    student.questions = [e.question for e in data.test]
    return student


def test_training_changes_parameters_and_lowers_loss():
    data = synthetic.load(["coin_flip"], 20, 1, seed=0)
    pairs = [(e.question, format_explanation(*synthetic.solve(e.question))) for e in data.pool]
    config = StudentConfig(vocab_size=300, hidden_size=32, layers=1, heads=2,
                           max_length=256, batch_size=8, max_new_tokens=20)
    student = build_tiny_student([t for _, t in pairs], config, seed=0)
    before = [p.detach().clone() for p in student.model.parameters()]
    first = student.train(pairs, steps=5, lr=3e-3, seed=0)["train_loss"]
    later = student.train(pairs, steps=40, lr=3e-3, seed=1)["train_loss"]
    assert later < first
    assert all(not torch.equal(a, b) for a, b in zip(before, student.model.parameters()))


def test_packed_lines_train_as_the_padded_rows_do(student):
    """The tiny student trains on rows packed into shared lines (training.packed): the
    loss and every gradient equal those of the same rows padded one per line, so no
    token attends to another row's."""
    data = synthetic.load(list(synthetic.FAMILIES), 24, 1, seed=3)
    rows = student.training_examples(
        [(e.question, format_explanation(*synthetic.solve(e.question))) for e in data.pool])
    model = student.model
    assert packs(model)
    ids, _, _ = packed(rows, student.pad_id, student.device)
    assert len(ids) < len(rows) and ids.shape[1] == max(len(r) for r, _ in rows)
    grads = []
    for pack in (False, True):
        model.zero_grad()
        loss = batch_loss(model, rows, student.pad_id, student.device, pack)
        loss.backward()
        grads.append((loss.item(), [p.grad.clone() for p in model.parameters()]))
    model.zero_grad()
    (padded_loss, padded), (packed_loss, packed_grads) = grads
    assert packed_loss == pytest.approx(padded_loss, rel=1e-5)
    for a, b in zip(padded, packed_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_batched_greedy_equals_one_question_at_a_time(student):
    batched = student.generate(student.questions, k=1)
    single = [student.generate([q], k=1)[0] for q in student.questions]
    assert [b[0][0] for b in batched] == [s[0][0] for s in single]
    for b, s in zip(batched, single):
        assert b[0][1] == pytest.approx(s[0][1], abs=1e-4)
    assert any("The answer is" in b[0][0] for b in batched)  # it learned the format


def test_sampling_is_seeded(student):
    a = student.generate(student.questions[:4], k=3, temperature=1.0, seed=5)
    b = student.generate(student.questions[:4], k=3, temperature=1.0, seed=5)
    c = student.generate(student.questions[:4], k=3, temperature=1.0, seed=6)
    assert a == b and a != c
    assert all(len(samples) == 3 for samples in a)


def test_batched_answer_probabilities_equal_single_ones(student):
    question = student.questions[0]
    steps, answer = synthetic.solve(question)
    items = [(question, steps[:i], answer) for i in range(len(steps) + 1)]
    items += items[:2] + [(question, steps, "7")]  # repeats go through the dedupe path
    batched = student.answer_probabilities(items)
    single = [student.answer_probabilities([item])[0] for item in items]
    assert batched == pytest.approx(single, abs=1e-5)
    assert all(0 < p <= 1 for p in batched)


def test_save_and_load_give_the_same_student(student, tmp_path):
    student.save(tmp_path / "ckpt")
    loaded = HFStudent.load(tmp_path / "ckpt", name=student.name, batch_size=16,
                            max_new_tokens=60)
    assert loaded.generate(student.questions[:3]) == student.generate(student.questions[:3])


def test_each_line_carries_the_probability_of_its_least_likely_token(student):
    """The log-probabilities sampling reports are those the model gives the sampled
    tokens read back (temperature 1: the model's own distribution), and each line of the
    text gets the lowest of its tokens'."""
    prompt = student.prompt_ids(student.questions[0])
    uniforms = torch.rand(1, student.max_new_tokens, generator=torch.Generator().manual_seed(3))
    [(tokens, logprobs, _)] = student._sample([prompt], 1.0, uniforms)
    ids = torch.tensor([prompt + tokens])
    with torch.no_grad():
        logp = torch.log_softmax(student.model(input_ids=ids).logits[0].float(), -1)
    forced = [logp[len(prompt) + j - 1, t].item() for j, t in enumerate(tokens)]
    assert logprobs == pytest.approx(forced, abs=1e-4)

    pieces = ["a", "b", "\n", "c", "\n", "\n", "d"]  # lines "ab", "c", "", "d"
    tokens = [student.tokenizer.token_to_id(student.tokenizer.encode(p).tokens[0])
              for p in pieces]
    assert student.tokenizer.decode(tokens) == "ab\nc\n\nd"
    lines = student.line_min_logprobs(tokens, [-1.0, -3.0, -0.5, -2.0, -0.1, -0.2, -4.0])
    assert lines == (-3.0, -2.0, -0.2, -4.0)  # a newline counts on the line it ends


def test_a_questions_samples_do_not_depend_on_its_batch(student):
    """Each question draws from its own random stream: the same samples alone, in a
    batch of others, or in smaller batches (what lets Ray shards equal one process)."""
    questions = student.questions[:6]
    together = student.generate(questions, k=3, temperature=1.0, seed=9)
    alone = [student.generate([q], k=3, temperature=1.0, seed=9)[0] for q in questions]
    assert [[g.text for g in s] for s in together] == [[g.text for g in s] for s in alone]
    for a, b in zip(together, alone):
        assert [g.mean_logprob for g in a] == pytest.approx([g.mean_logprob for g in b],
                                                            abs=1e-5)


def test_sampled_tokens_follow_the_model_distribution(student):
    """Inverse-CDF sampling at uniform numbers draws each first token with the model's
    probability (2000 draws, within 4 standard errors)."""
    prompt = student.prompt_ids(student.questions[0])
    n = 2000
    with torch.no_grad():
        logits = student.model(input_ids=torch.tensor([prompt])).logits[0, -1]
    probabilities = torch.softmax(logits.float(), -1)
    student.max_new_tokens, saved = 1, student.max_new_tokens
    try:
        uniforms = torch.rand(n, 1, generator=torch.Generator().manual_seed(0))
        drawn = student._sample([prompt] * n, 1.0, uniforms)
    finally:
        student.max_new_tokens = saved
    counts = torch.bincount(torch.tensor([tokens[0] if tokens else student.eos_id
                                          for tokens, *_ in drawn]),
                            minlength=len(probabilities)).float()
    error = (counts / n - probabilities).abs()
    bound = 4 * (probabilities * (1 - probabilities) / n).sqrt() + 1e-3
    assert (error <= bound).all()
    assert (counts > 0).sum() > 1  # more than one token was drawn


def test_a_tiny_student_trained_on_longer_sequences_records_their_length(caplog, tmp_path):
    """GSM8K's questions and AQuA's rationales run past the 256 tokens a tiny student is
    built for. Its positions are rotary only (no weight per position), so it records the
    longer length, which the saved and the exported model declare, with no word; it used
    to warn every round, advising a new run. A pretrained model, not trained that far, is
    warned of."""
    data = synthetic.load(["arithmetic"], 20, 1, seed=0)
    pairs = [(e.question, format_explanation(*synthetic.solve(e.question))) for e in data.pool]
    config = StudentConfig(vocab_size=300, hidden_size=32, layers=1, heads=2, max_length=40)
    student = build_tiny_student([t for _, t in pairs], config, seed=0)
    rows = student.training_examples(pairs)
    over = sum(len(ids) > 40 for ids, _ in rows)
    longest = max(len(ids) for ids, _ in rows)
    assert over > 0 and 128 < longest <= 256  # the synthetic explanations
    assert student.model.config.max_position_embeddings == 256
    assert "longer than" not in caplog.text
    student.save(tmp_path / "saved")
    saved = HFStudent.load(tmp_path / "saved", name="tiny")
    assert saved.model.config.max_position_embeddings == 256 and saved.positions_grow
    export_student(config, tmp_path / "saved", tmp_path / "exported")
    exported = json.loads((tmp_path / "exported" / "tokenizer_config.json").read_text())
    assert exported["model_max_length"] == 256
    pretrained = HFStudent(saved.model, saved.tokenizer, "a pretrained model")
    pretrained.model.config.max_position_embeddings = 40
    pretrained.training_examples(pairs)
    assert pretrained.model.config.max_position_embeddings == 40
    assert (f"{over} of {len(rows)} training sequences are longer than the 40 tokens a "
            f"pretrained model was pretrained for (the longest: {longest}); they are "
            "trained anyway") in caplog.text


def test_explanations_longer_than_the_student_writes_are_warned_of_once(caplog):
    """GSM8K's explanations run past the tiny student's 96 new tokens: it wrote none of
    them to its answer, and every test answer scored wrong, with no word of why."""
    question = synthetic.make_question("arithmetic", random.Random(0), 5, 5)
    pairs = [(question, format_explanation(*synthetic.solve(question)))] * 3
    config = StudentConfig(vocab_size=300, hidden_size=32, layers=1, heads=2)
    student = build_tiny_student([question, pairs[0][1]], config, seed=0)
    longest = len(student.encode(pairs[0][1]))  # its end token is not written
    student.max_new_tokens = longest
    student.training_examples(pairs)
    assert "longer than" not in caplog.text
    student.max_new_tokens = longest - 1
    student.training_examples(pairs)
    student.training_examples(pairs)
    assert caplog.text.count(f"3 of 3 training explanations are longer than the "
                             f"{longest - 1} tokens the student writes "
                             f"(student.max_new_tokens; the longest: {longest})") == 1


def test_a_beginning_without_its_answer_line_is_trained_without_an_end_token(student):
    """A warm-up's beginning of a chain (tasks/curriculum.py) teaches its steps and the
    line break after them, and no end: its tokens are the whole explanation's first
    ones."""
    question = synthetic.make_question("arithmetic", random.Random(0), 5, 5)
    steps, answer = synthetic.solve(question)
    (whole, prompt), (begun, same_prompt) = student.training_examples(
        [(question, format_explanation(steps, answer)), (question, beginning(steps))])
    assert whole[-1] == student.eos_id and student.eos_id not in begun
    assert prompt == same_prompt and prompt < len(begun) < len(whole)
    assert begun == whole[:len(begun)]
    assert student.tokenizer.decode(begun[prompt:]).count("=") == 3
