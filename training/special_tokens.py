"""Tokens a run adds (`add_special_tokens`): tool-call or reasoning markers the base model never saw.

They join the tokenizer as special tokens (never split, one id each). The model's input
embedding, and its output matrix when that is not tied to it, grow to the tokenizer's size;
every added token's rows start at the mean of the rows of the tokens the tokenizer had before,
a neutral starting point whose logit is average rather than random (a randomly initialised row
can dominate the softmax and blow up the first steps). Many checkpoints already carry unused
rows past their tokenizer (vocabularies padded to a multiple of 64): an added token takes such
a row and it is initialised the same way, without growing the matrix.

Their loss is reported as a channel of its own (training.reporting): it starts high and must
fall fast; one that does not says the rows are not being trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class AddedTokens:
    tokens: tuple[str, ...]
    """As configured."""
    ids: tuple[int, ...]
    """Their ids, in the same order."""
    new_ids: tuple[int, ...]
    """The ids the tokenizer did not have before (the rows that get initialised)."""
    known_tokens: int
    """len(tokenizer) before adding: rows below this belong to tokens the model was trained on."""

    def as_dict(self) -> dict:
        return {"tokens": list(self.tokens), "ids": list(self.ids), "new_ids": list(self.new_ids)}


def add_tokens_to_tokenizer(tokenizer, tokens: list[str]) -> AddedTokens:
    """Add the tokens (the same ids every time for the same tokenizer and list)."""
    known = len(tokenizer)
    if tokens:
        tokenizer.add_tokens(list(tokens), special_tokens=True)
    ids = tuple(int(tokenizer.convert_tokens_to_ids(token)) for token in tokens)
    return AddedTokens(tuple(tokens), ids, tuple(i for i in ids if i >= known), known)


def resize_and_initialise(model: nn.Module, added: AddedTokens, tokenizer_size: int) -> None:
    """Grow the embedding (and untied output) matrix to the tokenizer and set the added rows to
    the mean of the known rows. Only for a model that has not seen the tokens yet (the base
    model), never for a checkpoint or an earlier stage's model, which trained them."""
    if not added.new_ids:
        return
    if model.get_input_embeddings().weight.shape[0] < tokenizer_size:
        # mean_resizing would draw the new rows at random around the mean; they are set below.
        model.resize_token_embeddings(tokenizer_size, mean_resizing=False)
    new_rows = torch.tensor(added.new_ids, dtype=torch.long)
    matrices = [model.get_input_embeddings().weight]
    output = model.get_output_embeddings()
    if output is not None and output.weight is not matrices[0]:
        matrices.append(output.weight)
    with torch.no_grad():
        for weight in matrices:  # (V, H) both: output layers are stored as (out_features=V, H)
            mean = weight[: added.known_tokens].mean(dim=0, dtype=torch.float32).to(weight.dtype)  # (H,)
            weight[new_rows] = mean
