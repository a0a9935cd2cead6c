import re
from pathlib import Path

import pytest

from bot.config import Settings, SettingsError, describe_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_environment_beats_file_beats_default(tmp_path):
    (tmp_path / "learnbot.toml").write_text('top_k = 7\ngenerator = "extractive"\n')
    settings = Settings.load({"LEARNBOT_DATA_DIR": str(tmp_path), "LEARNBOT_TOP_K": "9"})
    assert settings.top_k == 9
    assert settings.generator == "extractive"
    assert settings.chunk_size == 800
    assert settings.database_path == tmp_path / "learnbot.db"


def test_bad_values_are_clear_errors(tmp_path):
    with pytest.raises(SettingsError, match="LEARNBOT_TOP_K|top_k"):
        Settings.load({"LEARNBOT_DATA_DIR": str(tmp_path), "LEARNBOT_TOP_K": "many"})
    (tmp_path / "learnbot.toml").write_text("colour = 'blue'\n")
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings.load({"LEARNBOT_DATA_DIR": str(tmp_path)})


def test_every_setting_is_documented_in_readme():
    text = README.read_text(encoding="utf-8")
    missing = [name for name, _, _ in describe_settings() if not re.search(rf"`{name}`", text)]
    assert not missing, f"README does not document: {missing}"
