"""The answer model is loaded when the app starts serving, not inside a learner's first question."""

from __future__ import annotations

from pathlib import Path

from bot.testing import FakeGenerator, TestBot

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "sample_courses"


class LoadingFake(FakeGenerator):
    """A fake that must be loaded before it answers, and counts its loads."""

    def __init__(self) -> None:
        super().__init__()
        self.loads = 0

    def load(self) -> None:
        self.loads += 1

    def generate(self, question, passages, history, language):  # noqa: ANN001, ANN201
        assert self.loads, "the model was not prepared at start-up"
        return super().generate(question, passages, history, language)


def test_prepare_generator_loads_the_model_once_with_a_progress_line(tmp_path: Path) -> None:
    generator = LoadingFake()
    bot = TestBot.build(tmp_path, generator=generator, grounding_threshold=0.3)
    said: list[str] = []
    bot.app.prepare_generator(said.append)
    assert generator.loads == 1 and said[0].startswith("Loading the answer model") and len(said) == 2
    bot.ingest(SAMPLES / "security-basics")
    reply = bot.say("What is phishing?")
    assert reply.grounded and reply.citations and generator.loads == 1


def test_a_back_end_without_a_model_needs_no_preparing(tmp_path: Path) -> None:
    bot = TestBot.build(tmp_path, grounding_threshold=0.3)
    said: list[str] = []
    bot.app.prepare_generator(said.append)
    assert said == []
