"""The words the chat says in more than one place: help, the command menu, apologies (English and Chinese).

Handlers keep the wording that belongs to one reply next to it; what several modules or adapters
share lives here, once.
"""

from __future__ import annotations

HELP = {
    "en": (
        "I answer questions about your courses, citing the lessons I used, and help you learn them.\n"
        "Just type a question, or use:\n"
        "/ask QUESTION - ask about the course material\n"
        "/courses - the courses you can study\n"
        "/enroll COURSE - join a course\n"
        "/lesson - your next lesson (/done when you have finished it)\n"
        "/quiz - a question to practise; answers come back when you are about to forget them\n"
        "/progress - lessons done, quiz accuracy, reviews due, streak\n"
        "/settings - time zone and active hours; /pause and /resume quizzes and reminders\n"
        "/next - what to study next, and why\n"
        "/link - join your Slack and Telegram accounts\n"
        "/mydata - everything stored about you; /forget - erase it\n"
        "/premium - premium tracks (/terms, /paysupport for payments)\n"
        "/help - this message"
    ),
    "zh": (
        "我根据课程材料回答问题，并注明出处，也陪你学习课程。\n直接输入问题，或使用：\n"
        "/ask 问题 - 提问\n/courses - 可学习的课程\n/enroll 课程 - 加入课程\n"
        "/lesson - 下一课（学完发送 /done）\n/quiz - 练习题\n/progress - 学习进度\n"
        "/settings - 时区与提醒时段；/pause、/resume 暂停或恢复提醒\n"
        "/link - 关联 Slack 与 Telegram 账号\n/mydata - 导出我的数据；/forget - 删除我的数据\n"
        "/premium - 高级课程（/terms 购买条款，/paysupport 支付帮助）\n/help - 帮助"
    ),
}
COMMANDS = {
    "start": "Start",
    "help": "What I can do",
    "ask": "Ask about the course",
    "courses": "Courses",
    "enroll": "Join a course",
    "lesson": "Your next lesson",
    "next": "What to study next",
    "done": "Mark the current lesson done",
    "quiz": "Practise with a quiz question",
    "progress": "Your progress",
    "settings": "Time zone and active hours",
    "pause": "Pause quizzes and reminders",
    "resume": "Resume quizzes and reminders",
    "link": "Join your Slack and Telegram accounts",
    "digest": "Your team's weekly digest (managers)",
    "mydata": "Everything stored about you, as a file",
    "forget": "Erase your data",
    "premium": "Premium tracks",
    "terms": "Terms of purchase",
    "paysupport": "Help with a payment",
}
"""The commands the router answers, in English, for the adapters' command menus."""
COMMANDS_ZH = {
    "start": "开始",
    "help": "我能做什么",
    "ask": "就课程提问",
    "courses": "课程列表",
    "link": "关联 Slack 与 Telegram 账号",
    "next": "下一课",
    "quiz": "做个小测验",
    "progress": "学习进度",
    "premium": "高级课程",
    "terms": "购买条款",
    "paysupport": "支付帮助",
}
"""Chinese menu entries for :data:`COMMANDS` (a command without one shows its English entry)."""

APOLOGY = "Sorry, something went wrong on my side. Please try again in a moment."
"""What a learner reads when handling their message failed on our side (every adapter says the same)."""
BUTTON_EXPIRED = "That button has expired."
