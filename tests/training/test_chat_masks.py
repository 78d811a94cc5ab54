"""Which tokens carry loss, through two real template styles set on the tiny tokenizer."""

import numpy as np
import pytest
from transformers import AutoTokenizer

from training.data import conversation_from_record
from training.loss import IGNORE_INDEX, NO_TURN
from training.tiny_model import LLAMA3_TEMPLATE
from training.tokenization import TemplateError, TokenizationReport, tokenize_conversation

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello!"},
    {"role": "assistant", "content": "Hello! How can I help you today?"},
    {"role": "user", "content": "Tell me about the weather."},
    {"role": "assistant", "content": "It is sunny with a light breeze."},
]


@pytest.fixture(scope="module")
def llama3_tokenizer(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.chat_template = LLAMA3_TEMPLATE
    tokenizer.bos_token = "<|begin_of_text|>"
    tokenizer.eos_token = "<|eot_id|>"
    return tokenizer


def tokenized(tokenizer, messages, supervise="all", max_len=4096, report=None):
    conversation = conversation_from_record({"messages": messages}, supervise, "test")
    return tokenize_conversation(tokenizer, conversation, max_len, report or TokenizationReport())


def supervised_text_by_turn(tokenizer, result):
    return [tokenizer.decode(result.input_ids[result.turn_ids == turn]) for turn in range(result.num_turns)]


def test_chatml_supervises_each_assistant_reply_with_its_im_end_token(tiny_tokenizer):
    result = tokenized(tiny_tokenizer, MESSAGES)

    assert supervised_text_by_turn(tiny_tokenizer, result) == [
        "Hello! How can I help you today?<|im_end|>",
        "It is sunny with a light breeze.<|im_end|>",
    ]


def test_chatml_leaves_role_headers_prompts_and_the_newline_after_im_end_unsupervised(tiny_tokenizer):
    result = tokenized(tiny_tokenizer, MESSAGES)
    unsupervised = tiny_tokenizer.decode(result.input_ids[result.labels == IGNORE_INDEX])

    assert unsupervised == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n"
        "<|im_start|>assistant\n\n<|im_start|>user\nTell me about the weather.<|im_end|>\n<|im_start|>assistant\n"
    )


def test_llama3_template_supervises_each_reply_with_its_eot_token(llama3_tokenizer):
    result = tokenized(llama3_tokenizer, MESSAGES)

    assert supervised_text_by_turn(llama3_tokenizer, result) == [
        "Hello! How can I help you today?<|eot_id|>",
        "It is sunny with a light breeze.<|eot_id|>",
    ]


def test_llama3_template_leaves_the_header_tokens_unsupervised(llama3_tokenizer):
    result = tokenized(llama3_tokenizer, MESSAGES)
    header_ids = llama3_tokenizer.convert_tokens_to_ids(
        ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>"]
    )

    assert not np.isin(result.input_ids[result.labels != IGNORE_INDEX], header_ids).any()
    assert result.input_ids[0] == llama3_tokenizer.convert_tokens_to_ids("<|begin_of_text|>")


def test_supervised_labels_are_the_input_tokens_themselves(tiny_tokenizer):
    result = tokenized(tiny_tokenizer, MESSAGES)
    supervised = result.labels != IGNORE_INDEX

    assert (result.labels[supervised] == result.input_ids[supervised]).all()
    assert ((result.turn_ids != NO_TURN) == supervised).all()


def test_chinese_replies_are_supervised_exactly(tiny_tokenizer):
    messages = [
        {"role": "user", "content": "你好，请推荐一部电影。"},
        {"role": "assistant", "content": "我推荐一部讲述海边小餐馆一家人的温情故事。"},
    ]

    result = tokenized(tiny_tokenizer, messages)

    assert supervised_text_by_turn(tiny_tokenizer, result) == ["我推荐一部讲述海边小餐馆一家人的温情故事。<|im_end|>"]


def test_last_mode_supervises_only_the_last_assistant_reply(tiny_tokenizer):
    result = tokenized(tiny_tokenizer, MESSAGES, supervise="last")

    assert supervised_text_by_turn(tiny_tokenizer, result) == ["It is sunny with a light breeze.<|im_end|>"]


def test_flagged_mode_supervises_the_replies_not_flagged_false(tiny_tokenizer):
    messages = [dict(message) for message in MESSAGES]
    messages[4]["train"] = False

    result = tokenized(tiny_tokenizer, messages, supervise="flagged")

    assert supervised_text_by_turn(tiny_tokenizer, result) == ["Hello! How can I help you today?<|im_end|>"]


def test_text_after_the_last_supervised_reply_is_not_kept(tiny_tokenizer):
    result = tokenized(tiny_tokenizer, MESSAGES + [{"role": "user", "content": "Thanks!"}])

    assert tiny_tokenizer.decode(result.input_ids).endswith("It is sunny with a light breeze.<|im_end|>")


def test_a_template_that_rewrites_earlier_turns_is_refused(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    # Like templates that strip the reasoning of earlier turns: only the last reply is shown whole.
    tokenizer.chat_template = (
        "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' }}"
        "{% if m['role'] == 'assistant' and not loop.last %}{{ m['content'][:5] }}{% else %}{{ m['content'] }}{% endif %}"
        "{{ '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    )

    with pytest.raises(TemplateError, match="rewrites earlier turns"):
        tokenized(tokenizer, MESSAGES)


def test_a_template_that_ignores_the_generation_prompt_is_refused(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.chat_template = "{%- for m in messages -%}{{ m['role'] }}: {{ m['content'] }}\n{%- endfor -%}"

    with pytest.raises(TemplateError, match="add_generation_prompt"):
        tokenized(tokenizer, MESSAGES)


def test_truncation_drops_a_cut_turn_whole_and_counts_it(tiny_tokenizer):
    full = tokenized(tiny_tokenizer, MESSAGES)
    second_turn_start = int(np.nonzero(full.turn_ids == 1)[0][0])
    report = TokenizationReport()

    result = tokenized(tiny_tokenizer, MESSAGES, max_len=second_turn_start + 3, report=report)

    assert supervised_text_by_turn(tiny_tokenizer, result) == ["Hello! How can I help you today?<|im_end|>"]
    assert report.dropped_turns == 1
    assert len(result) <= second_turn_start + 3


def test_a_conversation_left_without_a_turn_by_truncation_is_dropped_and_counted(tiny_tokenizer):
    report = TokenizationReport()

    result = tokenized(tiny_tokenizer, MESSAGES, supervise="last", max_len=20, report=report)

    assert result is None
    assert (report.dropped_turns, report.dropped_conversations) == (1, 1)
