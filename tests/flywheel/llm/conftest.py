import pytest


@pytest.fixture
def recorded_sleeps(monkeypatch):
    """The waits the client's retry layer asked for, without waiting them."""
    sleeps: list[float] = []
    monkeypatch.setattr("flywheel.llm.client._sleep", sleeps.append)
    return sleeps
