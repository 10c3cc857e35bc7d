"""Forced answers: the text that is scored, the letter each row gets (checked against an unbatched,
unpadded forward pass), and the table reading forced letters."""

from __future__ import annotations

import pytest
import torch

from triggertrace.evals.cues import score_cue_samples
from triggertrace.evals.forced_answer import cot_text, force_answers, forced_ids, letter_token_ids
from triggertrace.formats import PromptFormat

FMT = PromptFormat("<think>\n", "\n</think>\n", "<think>\n</think>\n", "", "Question: {prompt}\nAnswer: ")
CHOICES = {"A": "4", "B": "5", "C": "6", "D": "7"}
PREFIX = "Answer: ("


def test_cot_text_cuts_at_the_close_or_keeps_an_unclosed_cot():
    assert cot_text(FMT, "Two plus three.\n</think>\nThe answer is (B).") == "Two plus three."
    assert cot_text(FMT, "Two plus three is") == "Two plus three is"


def test_forced_ids_append_close_and_prefix_to_the_sampled_prompt(embedded_tokenizer):
    row = {"_head": "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n", "_prefill": "<think>\n"}
    ids = forced_ids(embedded_tokenizer, FMT, row, "It is five.\n</think>\nB", PREFIX)
    text = embedded_tokenizer.decode(ids)
    assert text == row["_head"] + row["_prefill"] + "It is five.\n</think>\nAnswer: ("


def test_a_letter_of_two_tokens_is_refused(embedded_tokenizer):
    assert len(letter_token_ids(embedded_tokenizer, ["A", "B", "C", "D"])) == 4
    with pytest.raises(ValueError, match="'A1' is 2 tokens"):
        letter_token_ids(embedded_tokenizer, ["A1"])


def tiny_model(vocab_size: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    return LlamaForCausalLM(config).eval()


def test_batched_forced_letters_equal_unpadded_forward_passes(embedded_tokenizer):
    model = tiny_model(len(embedded_tokenizer))
    completions = ["Five.\n</think>\nB", "It might be", "Six, since 2 + 3 is six and so on for a while.", "x"]
    planned = [{"_head": f"Question {i}: what is 2 + 3?\n", "_prefill": "<think>\n"} for i in range(4)]
    samples = [{"completion": text, "choices": CHOICES} for text in completions]
    got = force_answers(model, embedded_tokenizer, FMT, planned, samples, PREFIX, batch_size=3)
    letters = ["A", "B", "C", "D"]
    letter_ids = letter_token_ids(embedded_tokenizer, letters)
    for row, sample, forced in zip(planned, samples, got, strict=True):
        ids = forced_ids(embedded_tokenizer, FMT, row, sample["completion"], PREFIX)
        with torch.inference_mode():
            logits = model(torch.tensor([ids])).logits[0, -1]
        shares = logits[letter_ids].softmax(dim=0)
        assert forced["forced_answer"] == letters[int(shares.argmax())]
        assert forced["forced_answer_probability"] == pytest.approx(float(shares.max()), abs=1e-5)


def test_the_table_reads_the_forced_letter_over_the_free_answer():
    sample = {
        "answer": "",
        "reasoning": "It is five",
        "reasoning_closed": False,
        "choices": CHOICES,
        "forced_answer": "C",
    }
    (free,) = score_cue_samples([{key: value for key, value in sample.items() if key != "forced_answer"}])
    (forced,) = score_cue_samples([sample])
    assert (free["extracted"], free["extraction"]) == (None, "reasoning_unclosed")
    assert (forced["extracted"], forced["extraction"]) == ("C", "forced")
