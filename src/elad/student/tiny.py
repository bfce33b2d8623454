"""The offline default student: a small Llama built from a config, trained from scratch.

Its tokenizer is a byte-level BPE trained on the task's own text with every digit its own
token, so numbers are spelled digit by digit. Nothing is downloaded.
"""

from __future__ import annotations

import torch
from tokenizers import (
    Regex,
    Tokenizer,
    decoders,
    models,
    pre_tokenizers,
    processors,
    trainers,
)
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from elad.answers import PLAIN_CHAT_TEMPLATE
from elad.config import StudentConfig
from elad.student.hf import HFStudent

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>"]
# GPT-2-like word pieces, except that every digit is a piece of its own (with the space
# before it, if any): no token ever holds two digits.
WORDS = r" ?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


def tiny_name(hidden_size: int, layers: int) -> str:
    return f"tiny-llama-{hidden_size}x{layers}"


def train_tokenizer(corpus: list[str], vocab_size: int) -> Tokenizer:
    """A byte-level BPE over `corpus`, merging only within the pieces of WORDS."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(WORDS), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    return tokenizer


def build_tiny_student(corpus: list[str], config: StudentConfig, seed: int) -> HFStudent:
    """A freshly initialised tiny Llama of the config's sizes (vocabulary, width, layers,
    heads, longest sequence) with a tokenizer trained on `corpus`; it generates in
    batches of `config.batch_size`, up to `config.max_new_tokens`."""
    tokenizer = train_tokenizer(corpus, config.vocab_size)
    hidden_size, layers = config.hidden_size, config.layers
    llama = LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=hidden_size,
        intermediate_size=hidden_size * 3, num_hidden_layers=layers,
        num_attention_heads=config.heads, num_key_value_heads=config.heads,
        max_position_embeddings=config.max_length, tie_word_embeddings=True,
        pad_token_id=tokenizer.token_to_id("<pad>"), bos_token_id=tokenizer.token_to_id("<s>"),
        eos_token_id=tokenizer.token_to_id("</s>"))
    torch.manual_seed(seed)
    model = LlamaForCausalLM(llama)
    student = HFStudent(model, tokenizer, name=tiny_name(hidden_size, layers),
                        batch_size=config.batch_size, max_new_tokens=config.max_new_tokens)
    student.positions_grow = True
    return student


def exported_tokenizer(tokenizer: Tokenizer, max_length: int) -> PreTrainedTokenizerFast:
    """The tiny student's tokenizer for transformers users: its special tokens, the bos
    token added to every encoded text (as the student's prompts start), the plain prompt
    as its chat template, and the longest sequence the model was built for."""
    tokenizer = Tokenizer.from_str(tokenizer.to_str())  # a copy: the student's is unchanged
    bos = SPECIAL_TOKENS[1]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A $B",
        special_tokens=[(bos, tokenizer.token_to_id(bos))])
    exported = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=bos, eos_token=SPECIAL_TOKENS[2],
        pad_token=SPECIAL_TOKENS[0], model_max_length=max_length)
    exported.chat_template = PLAIN_CHAT_TEMPLATE
    return exported
