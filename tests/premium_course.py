"""A free course and a premium track written into a temp folder for the premium and leak tests.

Every sentence, heading and lesson title of the premium lessons carries a unique marker (``KX`` and
four digits), so any premium text that reaches a learner, quoted, summarised or cited, is caught by
:data:`MARKER`. Nothing of this ships with the product.
"""

from __future__ import annotations

import re
from pathlib import Path

TRACK = "vault-pro"
FREE_ID, PREMIUM_ID, PREMIUM_ZH_ID = "vault-basics", "vault-advanced", "vault-advanced-zh"
MARKER = re.compile(r"KX\d{4}")

FREE_LESSONS = {
    "doors": (
        "Vault doors",
        "# Vault doors\n\nA vault door is closed by two people together. The door log records who closed "
        "the vault door and when. A vault door should never be propped open during cleaning.\n\n"
        "## Hinges\n\nVault hinges are inspected every month for rust. A squeaking hinge is reported "
        "to the facilities team the same day.\n",
    ),
    "keys": (
        "Vault keys",
        "# Vault keys\n\nVault keys are kept in the key cabinet overnight. A lost vault key is reported "
        "at once, and the lock is changed within a week. Keys are never copied outside the company.\n",
    ),
}

PREMIUM_LESSONS = {
    "calibration": (
        "Hinge calibration KX1001",
        "# Hinge calibration KX1002\n\nThe hinge calibration torque is KX1003 forty newton metres for "
        "every vault hinge. Calibrate the vault hinge after each inspection KX1004 with the blue wrench. "
        "A calibrated hinge is sealed with wax KX1005 so tampering shows.\n\n"
        "## Calibration schedule KX1006\n\nHinge calibration runs every quarter KX1007 on the first "
        "Monday. The calibration report goes to the vault supervisor KX1008 within two days.\n",
        {
            "question": "What torque does the hinge calibration use? KX1009",
            "options": ["Forty newton metres KX1010", "Ten newton metres KX1011"],
            "answer": 0,
            "explanation": "The calibration torque is forty newton metres KX1012.",
        },
    ),
    "combination": (
        "Combination rotation KX2001",
        "# Combination rotation KX2002\n\nThe vault combination is rotated every ninety days KX2003 by "
        "two officers. The old combination is shredded KX2004 in front of a witness. A new combination "
        "never repeats a digit KX2005 twice in a row.\n\n"
        "## Emergency rotation KX2006\n\nAfter a suspected leak the combination is rotated within one "
        "hour KX2007 and the vault stays closed KX2008 until the audit ends.\n",
        {
            "question": "How often is the vault combination rotated? KX2009",
            "options": ["Every ninety days KX2010", "Every year KX2011"],
            "answer": 0,
            "explanation": "The combination is rotated every ninety days KX2012.",
        },
    ),
    "alarms": (
        "Silent alarm codes KX3001",
        "# Silent alarm codes KX3002\n\nThe silent alarm code under duress is the normal code plus one "
        "KX3003 on the last digit. Entering the duress code alerts the security desk KX3004 without a "
        "sound. The security desk answers a silent alarm within four minutes KX3005.\n",
        None,
    ),
}

PREMIUM_ZH_LESSONS = {
    "jiaozhun": (
        "铰链校准 KX4001",
        "# 铰链校准 KX4002\n\n金库铰链校准的扭矩是四十牛米 KX4003。每次检查之后都要校准金库铰链 KX4004。"
        "校准后的铰链用蜡封住 KX4005，这样篡改会留下痕迹。\n\n"
        "## 密码轮换 KX4006\n\n金库密码每九十天轮换一次 KX4007。旧密码要在证人面前销毁 KX4008。\n",
        None,
    ),
}


def _lesson_file(title: str, body: str, quiz: dict | None) -> str:
    front = [f"title: {title}", "minutes: 5"]
    if quiz:
        options = ", ".join(f'"{o}"' for o in quiz["options"])
        front += [
            "quiz:",
            f'  - question: "{quiz["question"]}"',
            f"    options: [{options}]",
            f"    answer: {quiz['answer']}",
            f'    explanation: "{quiz["explanation"]}"',
        ]
    return "---\n" + "\n".join(front) + "\n---\n" + body


def _course(root: Path, course_id: str, title: str, premium: bool, language: str, lessons: dict) -> Path:
    folder = root / course_id
    folder.mkdir(parents=True)
    toml = [
        f'id = "{course_id}"',
        f'title = "{title}"',
        f'language = "{language}"',
        f'track = "{TRACK}"',
        f"premium = {'true' if premium else 'false'}",
    ]
    for n, (lesson_id, spec) in enumerate(lessons.items(), 1):
        name = f"{n:02d}-{lesson_id}.md"
        title_, body = spec[0], spec[1]
        quiz = spec[2] if len(spec) > 2 else None
        (folder / name).write_text(_lesson_file(title_, body, quiz), encoding="utf-8")
        toml += ["", "[[lessons]]", f'id = "{lesson_id}"', f'file = "{name}"']
    (folder / "course.toml").write_text("\n".join(toml) + "\n", encoding="utf-8")
    return folder


def write_courses(root: Path) -> list[Path]:
    """Write the free course and the two premium courses of :data:`TRACK`; returns their folders."""
    return [
        _course(root, FREE_ID, "Vault Basics", False, "en", FREE_LESSONS),
        _course(root, PREMIUM_ID, "Advanced Vault Operations", True, "en", PREMIUM_LESSONS),
        _course(root, PREMIUM_ZH_ID, "高级金库操作", True, "zh", PREMIUM_ZH_LESSONS),
    ]


def leaks(text: str) -> list[str]:
    """The premium markers in ``text``."""
    return MARKER.findall(text or "")
