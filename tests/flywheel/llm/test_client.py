import json
from decimal import Decimal

import pytest

from flywheel.llm.client import (
    LLMInvalidOutput,
    LLMNotConfigured,
    LLMRequestRejected,
    LLMUnavailable,
    chat_json,
    chat_texts,
    llm_is_configured,
    model_for,
    usage_for_job,
)
from flywheel.llm.models import LLMUsage
from tests.support.openai_server import BrokenBody, RateLimited, Reply, ServerError, Slow

pytestmark = pytest.mark.django_db

SCHEMA = {
    "type": "object",
    "required": ["answer"],
    "properties": {"answer": {"type": "integer", "minimum": 1, "maximum": 5}},
    "additionalProperties": False,
}
MESSAGES = [{"role": "user", "content": "Rate this."}]


def ask(**overrides):
    arguments = {"role": "label", "messages": MESSAGES, "schema": SCHEMA, "prompt_version": "test-v1"}
    return chat_json(**{**arguments, **overrides})


def test_llm_is_not_configured_without_a_base_url(settings):
    settings.OPENAI_BASE_URL = ""
    assert not llm_is_configured()
    with pytest.raises(LLMNotConfigured):
        ask()


def test_each_role_uses_its_own_model_setting(settings):
    settings.FLYWHEEL_LABEL_MODEL, settings.FLYWHEEL_TEACHER_MODEL, settings.FLYWHEEL_JUDGE_MODEL = "a", "b", "c"
    assert [model_for(r) for r in ("label", "teacher", "judge")] == ["a", "b", "c"]


def test_a_valid_answer_is_parsed_and_returned(openai_server):
    openai_server.responder = lambda request: '{"answer": 4}'
    result = ask()
    assert result.data == {"answer": 4} and not result.cached and result.reasks == 0


def test_json_mode_is_requested_from_the_server(openai_server):
    openai_server.responder = lambda request: '{"answer": 4}'
    ask()
    assert openai_server.requests[0]["response_format"] == {"type": "json_object"}


def test_an_answer_in_a_code_fence_is_accepted(openai_server):
    openai_server.responder = lambda request: '```json\n{"answer": 2}\n```'
    assert ask().data == {"answer": 2}


def test_broken_json_is_re_asked_with_the_error(openai_server):
    openai_server.responder = lambda request: '{"answer": 3}'
    openai_server.script(Reply('{"answer": 3'))
    result = ask()
    assert result.data == {"answer": 3} and result.reasks == 1
    reask = openai_server.requests[1]["messages"][-1]["content"]
    assert "not valid JSON" in reask


def test_a_schema_violation_is_re_asked(openai_server):
    openai_server.responder = lambda request: '{"answer": 5}'
    openai_server.script(Reply('{"answer": 9}'))
    assert ask().data == {"answer": 5}
    assert "answer" in openai_server.requests[1]["messages"][-1]["content"]


def test_an_extra_rule_can_reject_an_answer_the_schema_allows(openai_server):
    openai_server.responder = lambda request: '{"answer": 2}'
    openai_server.script(Reply('{"answer": 1}'))

    def no_ones(data):
        if data["answer"] == 1:
            raise ValueError("1 is not allowed here")

    assert ask(validate=no_ones).data == {"answer": 2}


def test_an_answer_still_invalid_after_two_re_asks_raises_with_every_answer(openai_server):
    openai_server.responder = lambda request: "not json at all"
    with pytest.raises(LLMInvalidOutput) as caught:
        ask()
    assert len(openai_server.requests) == 3
    assert caught.value.answers == ["not json at all"] * 3 and len(caught.value.errors) == 3


def test_a_429_is_retried_after_its_retry_after(openai_server, recorded_sleeps):
    openai_server.responder = lambda request: '{"answer": 1}'
    openai_server.script(RateLimited(retry_after=7))
    assert ask().data == {"answer": 1}
    assert recorded_sleeps == [7.0] and len(openai_server.requests) == 2


def test_a_500_is_retried_with_backoff(openai_server, recorded_sleeps):
    openai_server.responder = lambda request: '{"answer": 1}'
    openai_server.script(ServerError(), ServerError(503))
    assert ask().data == {"answer": 1}
    assert len(recorded_sleeps) == 2 and recorded_sleeps[1] > 0


def test_a_broken_http_body_is_retried(openai_server, recorded_sleeps):
    openai_server.responder = lambda request: '{"answer": 1}'
    openai_server.script(BrokenBody())
    assert ask().data == {"answer": 1}
    assert len(openai_server.requests) == 2


def test_a_slow_answer_times_out_and_is_retried(openai_server, recorded_sleeps, settings):
    settings.FLYWHEEL_LLM_TIMEOUT_S = 0.3
    openai_server.responder = lambda request: '{"answer": 1}'
    openai_server.script(Slow(2))
    assert ask().data == {"answer": 1}
    assert len(openai_server.requests) == 2


def test_the_sdk_does_not_retry_on_its_own(openai_server, settings):
    settings.FLYWHEEL_LLM_MAX_RETRIES = 0
    openai_server.script(ServerError())
    with pytest.raises(LLMUnavailable):
        ask()
    assert len(openai_server.requests) == 1


def test_retries_give_up_after_the_configured_count(openai_server, recorded_sleeps, settings):
    settings.FLYWHEEL_LLM_MAX_RETRIES = 2
    openai_server.script(*[ServerError()] * 5)
    with pytest.raises(LLMUnavailable):
        ask()
    assert len(openai_server.requests) == 3


def test_a_retry_after_too_long_to_wait_in_place_is_handed_back_to_the_caller(openai_server, recorded_sleeps):
    openai_server.script(RateLimited(retry_after=3600))
    with pytest.raises(LLMUnavailable) as caught:
        ask()
    assert caught.value.retry_after_s == 3600 and recorded_sleeps == []


def test_a_client_error_is_not_retried(openai_server, recorded_sleeps):
    openai_server.script(ServerError(400))
    with pytest.raises(LLMRequestRejected):
        ask()
    assert len(openai_server.requests) == 1


def test_the_same_question_is_answered_from_the_cache(openai_server):
    openai_server.responder = lambda request: '{"answer": 4}'
    ask()
    again = ask()
    assert again.cached and again.data == {"answer": 4} and len(openai_server.requests) == 1


def test_a_new_prompt_version_is_not_answered_from_the_old_cache(openai_server):
    openai_server.responder = lambda request: '{"answer": 4}'
    ask()
    ask(prompt_version="test-v2")
    assert len(openai_server.requests) == 2


def test_an_invalid_answer_is_never_cached(openai_server):
    openai_server.responder = lambda request: "nope"
    with pytest.raises(LLMInvalidOutput):
        ask()
    openai_server.responder = lambda request: '{"answer": 2}'
    assert ask().data == {"answer": 2}


def test_tokens_and_cost_are_counted_per_job(openai_server, settings):
    from flywheel.jobs.models import Job
    from flywheel.llm.prices import prices_parse

    settings.FLYWHEEL_LLM_PRICES = prices_parse("gpt-4o=1000000:2000000")
    job = Job.objects.create(kind="tests.selftest")
    openai_server.responder = lambda request: '{"answer": 4}'
    openai_server.script(Reply("bad"))
    ask(job_id=job.id)
    ask(job_id=job.id)  # cached
    usage = usage_for_job(job.id)["total"]
    row = LLMUsage.objects.get(job=job)
    assert (row.calls, row.reasks, row.cache_hits) == (2, 1, 1)
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert Decimal(usage["cost_usd"]) == row.prompt_tokens * 1 + row.completion_tokens * 2


def test_n_text_answers_come_back_in_one_call(openai_server):
    openai_server.responder = lambda request: f"answer {request['_choice_index']}"
    result = chat_texts(role="teacher", messages=MESSAGES, n=3)
    assert result.contents == ["answer 0", "answer 1", "answer 2"]
    assert json.loads(json.dumps(openai_server.requests[0]))["n"] == 3


@pytest.mark.parametrize(
    "answer, message",
    [
        ("[" * 100_000, "nested too deeply"),
        ('{"a": ' * 50_000 + "1" + "}" * 50_000, "nested too deeply"),
        ("[1, 2]", "must be a JSON object"),
    ],
)
def test_an_answer_nested_too_deeply_is_a_clear_error_not_a_crash(answer, message):
    from flywheel.llm.client import parse_json_object

    with pytest.raises(ValueError, match=message):
        parse_json_object(answer)
