"""Real-student path on tiny pretrained-style models built from configs (Llama, Gemma 3
with sliding-window layers) saved as local Hugging Face folders with their own tokenizer
and chat template: LoRA training, adapter checkpoints, export, the sampler's cache."""

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from elad.answers import format_explanation, prompt_text
from elad.config import ConfigError, StudentConfig, load_config
from elad.loop import run
from elad.store import RunStore
from elad.student import export_student, load_student, new_student
from elad.student.pretrained import load_base
from elad.student.tiny import train_tokenizer
from elad.student.vllm import answer_probability, vllm_lora_rank, vllm_usable
from elad.tasks import synthetic
from elad.training import batch_loss, vocabulary_head

from conftest import TINY_HF

CHAT = ("{{ bos_token }}{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }}\n"
        "{% endfor %}{% if add_generation_prompt %}<assistant>\n{% endif %}")


def pairs(n=40):
    data = synthetic.load(["arithmetic"], n, 4, seed=0)
    return [(e.question, format_explanation(*synthetic.solve(e.question))) for e in data.pool]


def build(directory, arch: str, positions: int = 512):
    """A tiny model of `arch` (`positions` long) and a BPE tokenizer saved like a hub
    checkpoint."""
    texts = [t for p in pairs(200) for t in p] + ["<user> <assistant>"]
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=train_tokenizer(texts, 320),
                                        bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    tokenizer.chat_template = CHAT
    special = {"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id,
               "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    torch.manual_seed(0)
    if arch == "gemma3":
        model = Gemma3ForCausalLM(Gemma3TextConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
            num_key_value_heads=1, head_dim=16, sliding_window=4, max_position_embeddings=512,
            layer_types=["sliding_attention", "full_attention", "sliding_attention"],
            **special))
    elif arch == "gpt2":  # learned positions: none past n_positions
        model = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=2,
                                           n_positions=positions, **special))
    else:
        model = LlamaForCausalLM(LlamaConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=2, max_position_embeddings=positions, **special))
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module", params=["gemma3", "llama"])
def base_dir(request, tmp_path_factory):
    return build(tmp_path_factory.mktemp(request.param), request.param)


def config_for(base_dir, **changes) -> StudentConfig:
    options = {"kind": "hf", "model": str(base_dir), "lora_rank": 4, "lora_alpha": 8.0,
               "lora_dropout": 0.0, "batch_size": 8, "max_new_tokens": 24}
    return StudentConfig(**{**options, **changes})


def items(student_pairs):
    """Scoring items: each training question with its right steps and answer."""
    return [(q, synthetic.solve(q)[0], synthetic.solve(q)[1]) for q, _ in student_pairs[:8]]


def test_the_loss_from_hidden_states_is_the_models_own_loss(base_dir):
    """training.batch_loss takes the loss from the decoder's hidden states, chunked,
    without the batch's whole logits: the same loss and gradients as the model's own."""
    student = new_student(config_for(base_dir), [], seed=0)
    student.train(pairs(), steps=2, lr=2e-2, seed=0, batch_size=8)  # B != 0: LoRA counts
    model, rows = student.model, student.training_examples(pairs(6))
    assert vocabulary_head(model) is not None
    params = [p for p in model.parameters() if p.requires_grad]
    chunked = batch_loss(model, rows, student.pad_id, student.device, pack=False)
    chunked_grads = torch.autograd.grad(chunked, params)
    width = max(len(tokens) for tokens, _ in rows)
    ids = torch.tensor([tokens + [student.pad_id] * (width - len(tokens))
                        for tokens, _ in rows])
    labels = torch.tensor([[-100] * prompt + tokens[prompt:] + [-100] * (width - len(tokens))
                           for tokens, prompt in rows])
    own = model(input_ids=ids, labels=labels, use_cache=False).loss
    assert chunked.item() == pytest.approx(own.item(), rel=1e-5)
    for mine, theirs in zip(chunked_grads, torch.autograd.grad(own, params)):
        assert torch.allclose(mine, theirs, rtol=1e-4, atol=1e-7)


def one_layer_gemma(**changes) -> Gemma3ForCausalLM:
    return Gemma3ForCausalLM(Gemma3TextConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, **changes))


def test_a_head_that_is_not_a_plain_projection_keeps_the_models_own_loss():
    """A soft cap on the logits (Gemma 2's kind): the check on a short input sees it."""
    assert vocabulary_head(one_layer_gemma(final_logit_softcapping=0.5)) is None
    assert vocabulary_head(one_layer_gemma(final_logit_softcapping=None)) is not None


def test_a_torch_without_the_chunked_loss_keeps_the_models_own_loss(monkeypatch):
    monkeypatch.delattr(torch.nn, "LinearCrossEntropyOptions")  # a torch without it
    model = one_layer_gemma()
    assert vocabulary_head(model) is None
    loss = batch_loss(model, [([1, 2, 3, 4, 5], 2)], 0, torch.device("cpu"), pack=False)
    assert torch.isfinite(loss)


def test_lora_training_changes_the_adapter_only_and_the_outputs(base_dir):
    student = new_student(config_for(base_dir), [], seed=0)
    base, _ = load_base(config_for(base_dir))
    data = pairs()
    before = student.answer_probabilities(items(data))
    # a fresh adapter (B = 0) is exactly the base model
    ids = torch.tensor([student.prompt_ids(data[0][0])])
    with torch.no_grad():
        assert torch.allclose(student.model(input_ids=ids).logits,
                              base(input_ids=ids).logits, atol=1e-6)
    frozen = {n: p.detach().clone() for n, p in student.model.named_parameters()
              if not p.requires_grad}
    adapter = {n: p.detach().clone() for n, p in student.model.named_parameters()
               if p.requires_grad}
    assert adapter and all("lora_" in n for n in adapter)
    first = student.train(data, steps=3, lr=2e-2, seed=0, batch_size=8)["train_loss"]
    later = student.train(data, steps=15, lr=2e-2, seed=1, batch_size=8)["train_loss"]
    assert later < first
    params = dict(student.model.named_parameters())
    assert all(torch.equal(params[n], p) for n, p in frozen.items())
    assert all(not torch.equal(params[n], p) for n, p in adapter.items())
    after = student.answer_probabilities(items(data))
    gains = [math.log(a / b) for a, b in zip(after, before)]
    print(f"log-probability gains of the right answers: {[round(g, 3) for g in gains]}")
    assert max(abs(g) for g in gains) > 0.01  # the adapter changed the outputs,
    assert sum(gains) > 0  # towards the targets


def decode_operators(student, questions) -> int:
    """aten operators run by one greedy `generate` call (torch.profiler, on the CPU)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        student.generate(questions)
    return sum(e.count for e in prof.key_averages() if e.key.startswith("aten::"))


def test_lora_is_merged_to_decode_and_the_base_weights_come_back_exactly(base_dir):
    student = new_student(config_for(base_dir), [], seed=0)
    student.train(pairs(), steps=4, lr=2e-2, seed=0, batch_size=8)  # B != 0
    weights = {n: p.detach().clone() for n, p in student.model.named_parameters()}
    questions = [q for q, _ in pairs()[:6]]
    merged = student.generate(questions)
    assert all(torch.equal(p, weights[n]) for n, p in student.model.named_parameters())
    student.merge_lora_to_decode = False
    unmerged = student.generate(questions)
    assert [g[0].text for g in merged] == [g[0].text for g in unmerged]
    assert all(a[0].mean_logprob == pytest.approx(b[0].mean_logprob, abs=1e-4)
               for a, b in zip(merged, unmerged))
    without = decode_operators(student, questions)
    student.merge_lora_to_decode = True
    with_merge = decode_operators(student, questions)
    print(f"aten operators to decode: {without} with the adapter, {with_merge} merged")
    assert with_merge < 0.8 * without
    # training goes on from the same base weights and adapter as before the decoding
    later = student.train(pairs(), steps=2, lr=2e-2, seed=1, batch_size=8)
    assert later["train_loss"] > 0


def test_adapter_checkpoint_reloads_the_same_student(base_dir, tmp_path):
    config = config_for(base_dir)
    student = new_student(config, [], seed=0)
    student.train(pairs(), steps=4, lr=1e-2, seed=0, batch_size=8)
    student.save(tmp_path / "round-0")
    saved = {p.name for p in (tmp_path / "round-0").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= saved
    assert "model.safetensors" not in saved  # the base is not copied each round
    loaded = load_student(config, tmp_path / "round-0")
    questions = [q for q, _ in pairs()[:3]]
    assert loaded.generate(questions) == student.generate(questions)
    assert loaded.answer_probabilities(items(pairs())) == pytest.approx(
        student.answer_probabilities(items(pairs())), abs=1e-6)
    assert any(p.requires_grad for p in loaded.model.parameters())  # training goes on


def test_sampler_matches_teacher_forcing_with_sliding_windows(tmp_path):
    """The KV-cache sampler (rows leave the batch and the cache) on Gemma 3's sliding
    window layers, prompts longer than the window: its log-probabilities equal a
    no-cache forward pass over each finished sequence."""
    max_new = 48  # longer than most targets: the rows that end them leave the batch
    config = config_for(build(tmp_path / "g", "gemma3"), max_new_tokens=max_new)
    student = new_student(config, [], seed=0)
    student.train(pairs(), steps=8, lr=2e-2, seed=0, batch_size=8)
    questions = [q for q, _ in pairs(8)]
    prompts = [student.prompt_ids(q) for q in questions for _ in range(3)]
    uniforms = torch.rand(len(prompts), max_new, generator=torch.Generator().manual_seed(3))
    for temperature in (1.0, 0.5):  # the log-probs are the model's own at any temperature
        sampled = student._sample(prompts, temperature, uniforms)
        lengths = {len(tokens) for tokens, *_ in sampled}
        assert len(lengths) > 1  # some rows stopped early and left the batch
        for prompt, (tokens, _, mean_logprob) in zip(prompts, sampled):
            written = tokens + ([student.eos_id] if len(tokens) < max_new else [])
            with torch.no_grad():
                logits = student.model(input_ids=torch.tensor([prompt + written])).logits[0]
            logp = torch.log_softmax(logits.float(), -1)
            total = sum(float(logp[len(prompt) - 1 + i, t]) for i, t in enumerate(written))
            assert total / len(written) == pytest.approx(mean_logprob, abs=1e-4)
    batched = student.generate(questions)
    single = [student.generate([q])[0] for q in questions]
    assert [b[0][0] for b in batched] == [s[0][0] for s in single]
    assert [b[0][1] for b in batched] == pytest.approx([s[0][1] for s in single], abs=1e-4)


def test_chat_template_prompts(base_dir):
    student = new_student(config_for(base_dir, chat_template=True), [], seed=0)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    ids = student.prompt_ids("What is 2?")
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1
    assert tokenizer.decode(ids, skip_special_tokens=True) == (
        "<user> What is 2?\n<assistant>\n")
    plain = new_student(config_for(base_dir), [], seed=0)
    assert tokenizer.decode(plain.prompt_ids("What is 2?")) == "<s>Q: What is 2?\nA:\n"


def test_no_chat_template_is_a_config_error(tmp_path):
    directory = build(tmp_path / "llama", "llama")
    tokenizer = AutoTokenizer.from_pretrained(directory)
    tokenizer.chat_template = None
    tokenizer.save_pretrained(directory)
    (directory / "chat_template.jinja").unlink(missing_ok=True)
    with pytest.raises(ConfigError, match="has no chat template"):
        new_student(config_for(directory, chat_template=True), [], seed=0)


def test_export_merged_and_adapter_only(base_dir, tmp_path):
    config = config_for(base_dir)
    student = new_student(config, [], seed=0)
    student.train(pairs(), steps=4, lr=1e-2, seed=0, batch_size=8)
    student.save(tmp_path / "ckpt")
    export_student(config, tmp_path / "ckpt", tmp_path / "merged", merged=True)
    export_student(config, tmp_path / "ckpt", tmp_path / "adapter", merged=False)
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "merged")
    ids = torch.tensor([student.prompt_ids(pairs()[0][0])])
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids).logits, student.model(input_ids=ids).logits,
                              atol=1e-4)
    assert tokenizer.eos_token == "</s>"
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "adapter" / "model.safetensors").exists()
    # trained on plain prompts: the exported tokenizer adds bos and renders a question
    # as that prompt (the base model's chat template would not); greedy decoding
    question = pairs()[0][0]
    assert tokenizer(prompt_text(question)).input_ids == student.prompt_ids(question)
    assert tokenizer.apply_chat_template(
        [{"role": "user", "content": question}], add_generation_prompt=True,
        tokenize=False) == "<s>" + prompt_text(question)
    # its generation markers: TRL's assistant-only loss covers the answer and eos alone
    answer = pairs()[0][1]
    mask = tokenizer.apply_chat_template(
        [{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
        return_assistant_tokens_mask=True, return_dict=True)["assistant_masks"]
    prompt = student.prompt_ids(question)
    assert mask == [0] * len(prompt) + [1] * (len(mask) - len(prompt))
    assert len(mask) - len(prompt) == len(student.encode(answer)) + 1
    generation = merged.generation_config
    assert (generation.do_sample, generation.max_new_tokens) == (False, 24)
    assert generation.eos_token_id == tokenizer.eos_token_id
    # a chat-template student keeps the model's own template
    chat = config_for(base_dir, chat_template=True)
    export_student(chat, tmp_path / "ckpt", tmp_path / "chat", merged=True)
    assert AutoTokenizer.from_pretrained(tmp_path / "chat").chat_template == CHAT


def test_full_finetuning_saves_whole_models(base_dir, tmp_path):
    config = config_for(base_dir, finetune="full")
    student = new_student(config, [], seed=0)
    assert all(p.requires_grad for p in student.model.parameters())
    student.train(pairs(), steps=3, lr=1e-3, seed=0, batch_size=8)
    student.save(tmp_path / "full")
    assert (tmp_path / "full" / "model.safetensors").is_file()
    loaded = load_student(config, tmp_path / "full")
    questions = [q for q, _ in pairs()[:2]]
    assert loaded.generate(questions) == student.generate(questions)


def test_vllm_is_off_without_a_gpu_and_reads_prompt_logprobs(base_dir):
    assert not vllm_usable(config_for(base_dir))  # no GPU (or no vllm) here
    assert not vllm_usable(config_for(base_dir, backend="hf"))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="student.backend=vllm: .*(GPU|vllm)"):
            vllm_usable(config_for(base_dir, backend="vllm"))
    # what vLLM cannot serve is said before it starts (checked ahead of the GPU)
    with pytest.raises(ConfigError, match="vllm: vLLM serves LoRA ranks up to 512"):
        vllm_usable(config_for(base_dir, backend="vllm", lora_rank=1024))
    with pytest.raises(ConfigError, match="vllm: vLLM samples at temperatures up to 2"):
        vllm_usable(config_for(base_dir, backend="vllm", temperature=2.5))
    float16 = config_for(base_dir, backend="vllm", dtype="float16")
    if "gemma" in base_dir.name:  # vLLM refuses Gemma 2 and 3 in float16
        with pytest.raises(ConfigError, match="vLLM refuses float16 for gemma3_text "
                           "models .*student.dtype=bfloat16 or float32"):
            vllm_usable(float16)
        assert not vllm_usable(dataclasses.replace(float16, backend="auto"))
    elif not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="needs a GPU"):
            vllm_usable(float16)
    assert [vllm_lora_rank(r) for r in (1, 4, 8, 16, 24, 300, 512)] == [
        8, 8, 8, 16, 32, 320, 512]

    class Logprob:  # the shape of vLLM's prompt log-probabilities
        def __init__(self, value):
            self.logprob = value

    row = [5, 6, 7, 8]
    prompt_logprobs = [None, {6: Logprob(-0.1)}, {7: Logprob(-0.2), 1: Logprob(-3.0)},
                       {8: Logprob(-0.3)}]
    assert answer_probability(prompt_logprobs, row, (2, 4)) == pytest.approx(
        torch.tensor(-0.5).exp().item())


def test_the_vllm_student_through_a_stand_in_engine(base_dir, monkeypatch):
    """VLLMStudent's plumbing, with vLLM's calls answered by tests/fake_vllm.py (the
    base model plus the adapter folder it is sent): the same greedy explanations,
    step log-probs and answer probabilities as the transformers student; one engine;
    the adapter saved again after training and its old folder deleted."""
    import fake_vllm

    from elad.student import vllm

    engines = fake_vllm.install(monkeypatch)
    monkeypatch.setattr(vllm, "_ENGINES", {})
    config = config_for(base_dir)
    student = new_student(config, [], seed=0)
    data = pairs()
    student.train(data, steps=3, lr=2e-2, seed=0, batch_size=8)  # B != 0
    served = vllm.VLLMStudent(config, student)
    questions = [q for q, _ in data[:3]]

    def same_as_transformers():
        for mine, theirs in zip(served.generate(questions), student.generate(questions)):
            assert mine[0].text == theirs[0].text
            assert mine[0].mean_logprob == pytest.approx(theirs[0].mean_logprob, abs=1e-4)
            assert mine[0].line_min_logprobs == pytest.approx(
                theirs[0].line_min_logprobs, abs=1e-4)
        assert served.answer_probabilities(items(data)) == pytest.approx(
            student.answer_probabilities(items(data)), rel=1e-4)

    same_as_transformers()
    first = Path(served._lora().lora_path)
    assert (first / "adapter_config.json").is_file()
    served.train(data, steps=3, lr=2e-2, seed=1, batch_size=8)
    assert not first.exists()
    same_as_transformers()  # the new weights, through a new adapter folder
    sampled = served.generate(questions, k=2, temperature=1.0, seed=3)
    assert [len(s) for s in sampled] == [2, 2, 2]
    assert len(set(engines.seeds)) == 3 and all(0 <= s < 2**63 - 1 for s in engines.seeds)
    assert engines.started == [{
        "model": str(base_dir), "enable_lora": True, "seed": 0, "max_lora_rank": 8,
        "dtype": "float32", "gpu_memory_utilization": 0.5}]
    # a Ray actor on half a GPU takes half as much; one engine a process
    other = vllm.VLLMStudent(config_for(base_dir, lora_rank=24), student, gpu_share=0.5)
    other.generate(questions[:1])
    assert [(e["max_lora_rank"], e["gpu_memory_utilization"]) for e in engines.started
            ] == [(8, 0.5), (32, 0.25)]
    assert len(vllm._ENGINES) == 1


def test_a_run_with_a_pretrained_student_and_the_reference_teacher(tmp_path, shared_data,
                                                                   capsys, monkeypatch):
    from elad.cli import main

    build(tmp_path / "llama", "llama")
    monkeypatch.chdir(tmp_path)
    base = "llama"  # a local folder named relative to the working directory
    run_dir = tmp_path / "run"
    options = ["task.kind=gsm8k", f"task.path={shared_data / 'gsm8k'}", "task.pool_size=40",
               "task.test_size=4", "seed_size=6", "round_size=3", "candidates=4",
               "max_rounds=1", "teacher.kind=reference", "teacher.max_output_tokens=1024",
               "student.kind=hf", f"student.model={base}", "student.lora_rank=4",
               "student.samples=2", "student.max_new_tokens=24", "student.train_steps=2",
               "student.seed_train_steps=2", "student.learning_rate=0.01"]
    assert main(["-q", "run", *options, "--run-dir", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "stopped: max rounds" in out
    for round in (0, 1):
        saved = {p.name for p in (run_dir / "checkpoints" / f"round-{round}").iterdir()}
        assert "adapter_model.safetensors" in saved and "model.safetensors" not in saved
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the run's folder names its base model
    assert main(["export", str(run_dir), "--out", str(tmp_path / "final")]) == 0
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "final").config.vocab_size > 0
    card = (tmp_path / "final" / "README.md").read_text()
    assert "the local model `llama` fine-tuned with LoRA" in card
    assert str(tmp_path) not in card
    assert main(["export", str(run_dir), "--out", str(tmp_path / "adapter"),
                 "--adapter-only"]) == 0
    adapter = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(tmp_path / "llama")
    assert "(give `do_sample=False, max_new_tokens=24`: an adapter loads with its base " \
        "model's generation config)" in (tmp_path / "adapter" / "README.md").read_text()


def test_a_run_whose_student_folder_moved_goes_on_from_its_new_path(tmp_path, capsys):
    """A project moved elsewhere: its pretrained student's folder, stored as an absolute
    path, was gone from there, and its new path was refused: a new run, paying again."""
    from elad.cli import main

    base = build(tmp_path / "llama", "llama")
    run_dir = str(tmp_path / "run")
    assert main(["-q", "run", *TINY_HF, "student.kind=hf", f"student.model={base}",
                 "student.lora_rank=4", "student.max_new_tokens=24", "task.test_size=8",
                 "max_rounds=0", "--run-dir", run_dir]) == 0
    with RunStore(tmp_path / "run" / "run.sqlite") as store:
        paid = store.call_totals()
    moved = tmp_path / "elsewhere" / "llama"
    moved.parent.mkdir()
    base.rename(moved)
    assert main(["-q", "run", "max_rounds=1", "--run-dir", run_dir]) == 2
    assert capsys.readouterr().err == (
        f"elad: error: student.model={base}: no such folder (where this run's folder was; "
        "if it moved, give its new path, student.model=NEW: the run goes on if the folder "
        "holds the same model files)\n")
    assert main(["export", run_dir, "--out", str(tmp_path / "out")]) == 2  # not the round's
    assert (f"student.model={base}: no such folder (where this run's folder was; if it "
            "moved, give its new path, student.model=NEW") in capsys.readouterr().err
    assert main(["-q", "run", "max_rounds=1", f"student.model={moved}",
                 "--run-dir", run_dir]) == 0
    with RunStore(tmp_path / "run" / "run.sqlite") as store:
        assert store.call_totals(0) == paid  # round 0 was not asked again
        assert [r.round for r in store.rounds()] == [0, 1]
    # a hub name names another model, not another place: refused before anything runs
    capsys.readouterr()
    assert main(["run", "student.model=acme/llama", "--run-dir", run_dir]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"holds a run made with student.model='{moved}'" in err
    weights = moved / "model.safetensors"  # another model's weights, of the same size
    data = bytearray(weights.read_bytes())
    data[-4:] = bytes(b ^ 0xFF for b in data[-4:])
    weights.write_bytes(data)
    assert main(["-q", "run", "max_rounds=2", "--run-dir", run_dir]) == 2
    assert (f"student.model={moved} does not hold the model files this run's student "
            "started from (model.safetensors differ") in capsys.readouterr().err


def test_tiny_student_exports_as_a_standalone_model(tmp_path):
    from elad.student.tiny import build_tiny_student

    config = StudentConfig(hidden_size=32, layers=1, heads=2, vocab_size=300)
    student = build_tiny_student([t for p in pairs() for t in p], dataclasses.replace(
        config, batch_size=8, max_new_tokens=8), seed=0)
    student.save(tmp_path / "ckpt")
    export_student(config, tmp_path / "ckpt", tmp_path / "out")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "out")
    text = "Q: Start with 3. First, add 4. What is the result?\nA:\n"
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids
    assert ids[0].tolist() == student.encode(text)
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids).logits, student.model(input_ids=ids).logits)
    assert tokenizer.bos_token == "<s>" and tokenizer.pad_token == "<pad>"


def test_a_base_model_that_is_not_there_stops_the_run_before_any_request(tmp_path):
    """The student is checked before the seed round is paid for, not when it trains; a
    folder that is not there, with the config (`--dry-run` said nothing of it)."""
    with pytest.raises(ConfigError, match="student.model=.*no-such-model: no such folder$"):
        load_config(None, [*TINY_HF, "student.kind=hf",
                           f"student.model={tmp_path / 'no-such-model'}"])
    empty = tmp_path / "empty"  # a folder, but no model in it
    empty.mkdir()
    config = load_config(None, [*TINY_HF, "student.kind=hf", f"student.model={empty}"])
    with pytest.raises(ConfigError, match="empty cannot be loaded, so nothing was asked"):
        run(config, tmp_path / "run")
    bare = build(tmp_path / "bare", "gpt2")  # the model alone: an empty tokenizer
    for name in bare.iterdir():
        if name.name.startswith(("tokenizer", "special_tokens", "chat_template")):
            name.unlink()
    config = load_config(None, [*TINY_HF, "student.kind=hf", f"student.model={bare}"])
    with pytest.raises(ConfigError, match="bare: its tokenizer encodes text to nothing"):
        run(config, tmp_path / "run")
    mixed = build(tmp_path / "mixed", "llama")  # another model's, larger, tokenizer
    texts = [t for p in pairs(200) for t in p]
    PreTrainedTokenizerFast(tokenizer_object=train_tokenizer(texts, 640), bos_token="<s>",
                            eos_token="</s>").save_pretrained(mixed)
    config = load_config(None, [*TINY_HF, "student.kind=hf", f"student.model={mixed}"])
    with pytest.raises(ConfigError, match=r"mixed: its tokenizer has 3\d\d tokens and the "
                                          r"model embeds 3\d\d \(is the folder's"):
        run(config, tmp_path / "run")
    base = build(tmp_path / "llama", "llama")  # there, but vLLM cannot serve this rank
    config = load_config(None, [*TINY_HF, "student.kind=hf", f"student.model={base}",
                                "student.backend=vllm", "student.lora_rank=1024"])
    with pytest.raises(ConfigError, match="backend=vllm: vLLM serves LoRA ranks up to"):
        run(config, tmp_path / "run")
    with RunStore(tmp_path / "run" / "run.sqlite") as store:
        assert store.sent() == ""


def test_a_gpt2_with_few_positions_fits_them_and_says_targets_it_has_not(tmp_path, caplog):
    """A GPT-2 of 48 positions: a prompt plus student.max_new_tokens past them, or a
    training sequence longer, ended in an IndexError traceback from the position table.
    Now each row writes up to its last position, training sequences are cut to it (said),
    and a question that fills them gets no explanation (said); LoRA targets it does not
    have (a peft traceback) are one line, with the names it has. A rotary model (Llama)
    is not cut."""
    base = build(tmp_path / "gpt2", "gpt2", positions=48)
    student = new_student(config_for(base, max_new_tokens=40), [], seed=0)
    data = pairs(8)
    prompt = len(student.prompt_ids(data[0][0]))
    assert 0 < 48 - prompt < 40  # its explanation has fewer than 40 positions left
    assert student.generate([data[0][0]], temperature=1.0, seed=0)[0][0].text
    alone, _, _ = student._sample([student.prompt_ids(data[0][0])], 0.0, None)[0]
    assert 0 < len(alone) <= 48 - prompt
    longer = student.prompt_ids(data[0][0] + " and so on")  # its own room in one batch
    beside, _, _ = student._sample([student.prompt_ids(data[0][0]), longer], 0.0, None)[0]
    assert beside == alone
    long = [(q, e + " and so on" * 20) for q, e in data]
    assert student.train(long, steps=2, lr=1e-2, seed=0, batch_size=4)["train_loss"] > 0
    assert "8 of 8 training sequences are longer than the 48 positions" in caplog.text
    full = student.generate([data[0][0] + " and so on" * 30, data[0][0]])  # no room
    assert full[0][0].text == "" and full[1][0].text
    assert "1 questions fill the 48 positions of" in caplog.text
    with pytest.raises(ConfigError, match=r"\(student.lora_targets=q_proj,v_proj\): Target "
                                          r"modules .* not found in the base model.* \(the "
                                          r"model's linear layers: c_attn, c_fc, c_proj, "
                                          r"lm_head; or all-linear\)$"):  # GPT-2's names
        new_student(config_for(base, lora_targets=["q_proj", "v_proj"]), [], seed=0)


def test_a_preset_checkpoint_with_a_wrong_tokenizer_stops_the_run_before_any_request(
        tmp_path, monkeypatch):
    """transformers 5.17 cached the gemma-3-270m preset with a tokenizer that splits
    words into letters, and the student wrote garbled words; such a cache is refused
    (here: a tiny Gemma 3 with its own small tokenizer in the preset's place)."""
    monkeypatch.setenv("ELAD_CACHE", str(tmp_path / "cache"))
    build(tmp_path / "cache" / "gemma-3-270m", "gemma3")
    config = load_config(None, [*TINY_HF, "student.kind=hf", "student.model=gemma-3-270m"])
    wrong = (r"the checkpoint in .*cache/gemma-3-270m was converted by transformers "
             r"[0-9.]+, and its tokenizer splits 'Natalia sold' into \['N.*Delete that")
    with pytest.raises(ConfigError, match=wrong):
        run(config, tmp_path / "run")
    with RunStore(tmp_path / "run" / "run.sqlite") as store:
        assert store.sent() == ""
    with pytest.raises(ConfigError, match=wrong):
        load_base(config.student)
