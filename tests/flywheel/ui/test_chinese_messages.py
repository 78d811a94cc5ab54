"""Messages that are not in templates reach a Chinese reader in Chinese too: a service's error
shown on an engineer's page, an API error's `detail` (by the request's Accept-Language), and the
notes and errors a worker stores on a job, which are read later in the reader's language."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.utils import translation

from flywheel.datasets.services import BuildError
from flywheel.i18n import Text, shown, stored
from flywheel.ingest.imports import import_file_run
from flywheel.ingest.models import ImportFile
from flywheel.jobs.models import Job
from flywheel.jobs.services import JobContext, job_claim, job_execute
from tests.flywheel.datasets.test_tokenizer_path import FORM as BUILD_FORM


def in_chinese(client, user):
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    return client


# --- the shape itself ------------------------------------------------------------------------


def test_a_stored_text_reads_back_in_the_readers_language_and_plain_text_as_it_is():
    note = stored(Text("%(records)s records, %(errors)s with errors", records=3, errors=1))
    with translation.override("zh-hans"):
        assert shown(note) == "3 条记录，1 条有错误"
    with translation.override("en"):
        assert shown(note) == "3 records, 1 with errors"
        assert shown("12 records, 0 with errors") == "12 records, 0 with errors"  # a row from before
        assert shown("Traceback (most recent call last): ...").startswith("Traceback")


def test_a_text_inside_a_text_is_translated_too_and_an_error_raised_with_one_keeps_it():
    inner = Text("dataset version %(version)s does not exist", version=7)
    error = BuildError(Text("%(setting)s: %(error)s", setting="quality_model", error=inner))
    with translation.override("zh-hans"):
        assert str(error) == "quality_model：数据集版本 7 不存在"
        assert shown(stored(error)) == "quality_model：数据集版本 7 不存在"
    with translation.override("en"):
        assert shown(stored(error)) == "quality_model: dataset version 7 does not exist"


def test_a_stored_text_too_long_for_its_column_is_kept_as_english_text_cut_to_fit():
    note = Text("%(source)s: %(count)s candidates so far", source="s" * 300, count=5)
    assert stored(note, limit=200) == str(note)[:200] and shown(stored(note, limit=200)) == str(note)[:200]


# --- (a) a service error on an engineer's page ------------------------------------------------


@pytest.mark.django_db
def test_a_service_error_on_the_build_form_is_chinese_for_a_chinese_engineer(client, engineer):
    form = {**BUILD_FORM, "tokenizer": "/etc"}
    page = in_chinese(client, engineer).post("/datasets/new/", form).content.decode()
    assert "tokenizer：请给出模型目录（FLYWHEEL_MODEL_ROOTS）内的分词器或模型目录" in page
    assert "give a tokenizer" not in page


@pytest.mark.django_db
def test_a_service_error_flashed_on_a_construction_page_is_chinese(client, engineer, openai_server):
    response = in_chinese(client, engineer).post(
        "/construction/synthesis/start/", {"method": "self_instruct", "count": "2", "temperature": "0.7"}, follow=True
    )
    page = response.content.decode()
    assert "请先添加种子提示词" in page and "add seed prompts" not in page


# --- (b) API errors follow Accept-Language --------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("zh-Hans", "请以 application/json 发送批次"),
        ("zh-CN,zh;q=0.9", "请以 application/json 发送批次"),
        ("en", "send the batch as application/json"),
        (None, "send the batch as application/json"),
    ],
)
def test_an_api_errors_detail_follows_the_requests_accept_language(api_client, language, expected):
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}
    response = api_client.post("/api/v1/ingest/", data="x", content_type="text/plain", **headers)
    assert response.status_code == 415
    assert response.json() == {"error": "unsupported_media_type", "detail": expected}


@pytest.mark.django_db
def test_an_api_key_refusal_is_chinese_for_a_chinese_client(client):
    response = client.post(
        "/api/v1/ingest/",
        data="{}",
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer fw_nope",
        HTTP_ACCEPT_LANGUAGE="zh-Hans",
    )
    assert response.status_code == 401 and response.json()["detail"] == "API 密钥未知或已吊销。"


# --- (c) a worker's stored note and error, read later ----------------------------------------


@pytest.mark.django_db
def test_an_imports_progress_note_shows_in_each_readers_language(client, engineer, tmp_path):
    path = tmp_path / "log.jsonl"
    lines = [{"id": f"s{n}", "messages": [{"role": "user", "content": f"hello {n}"}]} for n in range(3)]
    path.write_text("\n".join([*map(json.dumps, lines), "{not json"]) + "\n")
    job = Job.objects.create(kind="ingest.import_file", payload={})
    assert job_claim(job_id=job.id, worker="w")  # the worker is still on it: the page shows its note
    import_file = ImportFile.objects.create(
        name="log.jsonl", path=str(path), sha256="0" * 64, size_bytes=path.stat().st_size, format="openai", job=job
    )
    import_file_run(path=str(path), fmt="openai", progress=JobContext(Job.objects.get(id=job.id), "w").progress)
    assert Job.objects.get(id=job.id).progress_note.startswith("\x1f")  # stored untranslated

    chinese = in_chinese(client, engineer).get(f"/imports/{import_file.id}/").content.decode()
    assert "4 条记录，1 条有错误" in chinese
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.get(f"/imports/{import_file.id}/").content.decode()
    assert "4 records, 1 with errors" in english and "条记录" not in english

    # Once it has finished, the page lists the bad line's error, in the reader's language too.
    report = import_file_run(path=str(path), fmt="openai")
    ImportFile.objects.filter(id=import_file.id).update(report=report)
    Job.objects.filter(id=job.id).update(status=Job.Status.SUCCEEDED)
    assert "malformed JSON: " in client.get(f"/imports/{import_file.id}/").content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    assert "JSON 格式错误：" in client.get(f"/imports/{import_file.id}/").content.decode()


@pytest.mark.django_db
def test_a_jobs_stored_error_shows_in_each_readers_language_and_an_old_plain_one_as_it_was(client, engineer):
    # A real handler refusing its input: the IFD scorer given a model outside the model roots.
    job = Job.objects.create(kind="curation.ifd", queue="gpu", payload={"version_id": 1, "model": "/etc"})
    assert job_execute(job_id=job.id).status == "dead"
    old = Job.objects.create(kind="curation.ifd", status=Job.Status.DEAD, error="an error stored as plain English")

    client = in_chinese(client, engineer)
    assert (
        "model：请选择模型根目录（FLYWHEEL_MODEL_ROOTS）内的模型目录" in client.get(f"/jobs/{job.id}/").content.decode()
    )
    assert "an error stored as plain English" in client.get(f"/jobs/{old.id}/").content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "model: choose a model directory inside the model roots" in client.get(f"/jobs/{job.id}/").content.decode()


# --- sentences with values are whole sentences ------------------------------------------------


@pytest.mark.django_db
def test_sentences_with_values_read_as_whole_chinese_sentences(client, engineer, ops_user, settings):
    page = in_chinese(client, engineer).get("/continuity/").content.decode()
    share = f"{settings.FLYWHEEL_CONTINUITY_PSEUDO_SHARE:.2f}"
    assert f"数据集构建时其中 {share} 的会话保持完整（<code>FLYWHEEL_CONTINUITY_PSEUDO_SHARE</code>）" in page

    page = in_chinese(client, ops_user).get("/runs/new/").content.decode()
    assert '还没有含训练对话的数据集版本：请先<a href="/datasets/new/">构建一个</a>。' in page


def _title(template: str, **context) -> str:
    """A template's title block as the page renders it (titles are plain text: no markup)."""
    from django.template import Context, Template
    from django.template.loader import get_template

    source = Path(get_template(template).origin.name).read_text(encoding="utf-8")
    body = re.search(r"{% block title %}(.*?){% endblock %}", source, re.S).group(1)
    return Template("{% load i18n %}" + body).render(Context(context))


@pytest.mark.parametrize(
    "template, english, chinese",
    [
        ("curation/diversity.html", "Diversity of dataset v12", "数据集 v12 的多样性"),
        ("curation/ifd.html", "IFD of dataset v12", "数据集 v12 的 IFD"),
        ("datasets/samples.html", "Samples of v12", "v12 的样本"),
    ],
)
def test_a_title_naming_a_version_is_one_sentence_in_chinese_word_order(template, english, chinese):
    version = SimpleNamespace(id=12)
    with translation.override("en"):
        assert _title(template, version=version) == english
    with translation.override("zh-hans"):
        assert _title(template, version=version) == chinese


def test_a_runs_steps_and_an_evaluations_judge_calls_read_in_chinese_word_order():
    from django.template.loader import render_to_string

    run = SimpleNamespace(
        id=3,
        status="running",
        current_step=4,
        total_steps=10,
        alerts=[{"alert": "rising_loss", "step": 7, "message": "the loss has risen"}],
        checkpoints=[{"step": 5, "path": "/runs/3/step-5"}],
        result={},
    )
    with translation.override("zh-hans"):
        page = render_to_string("runs/_status.html", {"run": run})
        assert "第 7 步 · <strong>rising_loss</strong>" in page and "<li>第 5 步 <small" in page
        summary = {"pairwise": {"win": 3, "tie": 1, "loss": 2}, "judge_calls": 12, "judge_dead_letters": 0}
        evaluation = SimpleNamespace(id=9, judge_repeats=1, run=None)
        page = render_to_string("evaluation/detail.html", {"summary": summary, "evaluation": evaluation})
        assert "评判调用 12 次" in page
    with translation.override("en"):
        assert "step 7 · <strong>rising_loss</strong>" in render_to_string("runs/_status.html", {"run": run})
        page = render_to_string("evaluation/detail.html", {"summary": summary, "evaluation": evaluation})
        assert "judge calls 12" in page
