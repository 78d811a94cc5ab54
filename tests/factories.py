"""factory_boy factories for the core rows. Every factory writes real rows (no mocks)."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from flywheel.ingest.models import ChatSession, Feedback, Message


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pass-word-1")


class ChatSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChatSession

    external_id = factory.Sequence(lambda n: f"session-{n}")
    app = "chat"
    model_version = "model-a"
    started_at = factory.LazyFunction(timezone.now)
    source = "test"


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    session = factory.SubFactory(ChatSessionFactory)
    external_id = factory.Sequence(lambda n: f"message-{n}")
    seq = factory.Sequence(lambda n: n + 1)
    role = Message.Role.USER
    content = "Hello"
    created_at = factory.LazyFunction(timezone.now)


class FeedbackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Feedback

    external_id = factory.Sequence(lambda n: f"feedback-{n}")
    message = factory.SubFactory(MessageFactory, role=Message.Role.ASSISTANT)
    rating = -1
    created_at = factory.LazyFunction(timezone.now)


def session_with_turns(turns: list[tuple[str, str]], **session_fields) -> ChatSession:
    """A session whose messages are (role, content) pairs, in order."""
    session = ChatSessionFactory(**session_fields)
    for seq, (role, content) in enumerate(turns, start=1):
        MessageFactory(session=session, seq=seq, role=role, content=content, external_id=f"{session.external_id}:{seq}")
    return session
