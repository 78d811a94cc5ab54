"""`python -m training make-tiny-model`: an offline, deterministic tiny Llama for tests and demos.

A byte-level BPE trained in milliseconds on the built-in corpus, wrapped in
PreTrainedTokenizerFast with a chat template, and a randomly initialised 2-layer LlamaForCausalLM,
saved with save_pretrained so that it loads through the same from_pretrained path as a real
checkpoint. The tokenizer knows the special tokens of both template styles, so either template
can be set on it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from training.modeling import quiet_transformers
from training.tiny_corpus import CORPUS

CHATML_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
"""ChatML as Qwen and many others use it: the reply ends with <|im_end|> and a newline."""

LLAMA3_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}"
)
"""Llama 3's header style: role between header tokens, content trimmed, <|eot_id|> ends a turn."""

TEMPLATES = {
    "chatml": {"chat_template": CHATML_TEMPLATE, "bos_token": None, "eos_token": "<|im_end|>"},
    "llama3": {"chat_template": LLAMA3_TEMPLATE, "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
}

PAD_TOKEN = "<|endoftext|>"
SPECIAL_TOKENS = [
    PAD_TOKEN,
    "<|im_start|>",
    "<|im_end|>",
    "<|begin_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
]
TARGET_VOCAB_SIZE = 3000


def train_tiny_tokenizer(vocab_size: int = TARGET_VOCAB_SIZE) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS, trainer=trainer)
    return tokenizer


def build_tiny_tokenizer(template: str = "chatml"):
    # Deferred: transformers is slow to import, and only this step needs it.
    from transformers import PreTrainedTokenizerFast

    if template not in TEMPLATES:
        raise ValueError(f"template must be one of {', '.join(TEMPLATES)}, not {template!r}")
    style = TEMPLATES[template]
    return PreTrainedTokenizerFast(
        tokenizer_object=train_tiny_tokenizer(),
        bos_token=style["bos_token"],
        eos_token=style["eos_token"],
        pad_token=PAD_TOKEN,
        chat_template=style["chat_template"],
        model_max_length=4096,
    )


def make_tiny_model(output: str | Path, template: str = "chatml", seed: int = 0, hidden_size: int = 128) -> Path:
    """Write a tiny Llama-architecture model and its tokenizer to `output`; return the path."""
    # Deferred: transformers is slow to import, and only this step needs it.
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    quiet_transformers()
    output = Path(output)
    tokenizer = build_tiny_tokenizer(template)
    # A multiple of 64 keeps the embedding matmuls aligned; the extra rows are never produced.
    vocab_size = (len(tokenizer) + 63) // 64 * 64
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 11 // 4,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        attention_dropout=0.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id
    )
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    return output
