import pytest


@pytest.fixture(scope="session")
def embedding_cache():
    """One embedding per distinct text for the whole run: the public samples share many."""
    from flywheel.continuity.engine import EmbeddingCache

    return EmbeddingCache()


@pytest.fixture(scope="session")
def packaged_model():
    from flywheel.continuity.classifier import TrainedClassifier
    from flywheel.continuity.services import PACKAGED_DIR

    return TrainedClassifier.load(PACKAGED_DIR)


def conversation(*turns: str) -> list[dict]:
    """Alternating user/assistant messages, starting with the user."""
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": text} for i, text in enumerate(turns)]
