"""A seeded generator of realistic demo logs: Chinese and English chat sessions with
feedback, and with the problems later stages must catch planted on purpose (exact and near
duplicates, PII, garbage, mojibake, topic switches, refusals, prompt injection, hostile
markup, thumbs-down answers, sessions with no answer).

`generate_demo()` returns ingest batches (the HTTP API's shape) and a `plan` saying which
session or message carries which planted case, so tests can check each stage finds them.
"""

from __future__ import annotations

import random
import string
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flywheel.demo.corpus import BAD_ANSWERS, GARBAGE, HOSTILE_MARKUP, INJECTIONS, REFUSALS, TOPICS, TRADITIONAL

FOLLOWUP_ANSWERS = {
    "en": [
        "About 20 minutes in total, most of it waiting.",
        "Yes - the steps are the same, just keep an eye on it towards the end.",
        "Sure. Double the amounts and allow a little more time.",
        "Good question: it works, but the result is slightly less consistent.",
        "Yes, that is fine; wrap it well and use it within a month.",
    ],
    "zh": [
        "大概需要二十分钟左右，大部分时间是在等待。",
        "可以的，步骤基本一样，最后注意一下就行。",
        "当然，按比例增加就可以，时间稍微长一点。",
        "好问题，这样也可以，只是效果会差一些。",
        "主演阵容很强，口碑也不错，值得一看。",
    ],
}


@dataclass
class DemoData:
    batches: list[dict]
    plan: dict[str, object] = field(default_factory=dict)

    @property
    def session_count(self) -> int:
        return sum(len(b["sessions"]) for b in self.batches)


# --- planted personal data (valid by the same checks a scrubber uses) -----------------------


def _luhn_complete(prefix: str, rng: random.Random, length: int = 16) -> str:
    digits = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d)
        if i % 2 == 0:
            n *= 2
            n = n - 9 if n > 9 else n
        total += n
    return digits + str((10 - total % 10) % 10)


def _cn_resident_id(rng: random.Random) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    birth = datetime(1970, 1, 1) + timedelta(days=rng.randint(0, 365 * 35))
    body = f"{rng.choice(['110101', '310104', '440305', '510107'])}{birth:%Y%m%d}{rng.randint(0, 999):03d}"
    return body + "10X98765432"[sum(int(a) * b for a, b in zip(body, weights)) % 11]


def _pii_sample(kind: str, rng: random.Random, lang: str) -> str:
    name = rng.choice(["alice", "bob.smith", "zhang.wei", "li_na"])
    values = {
        "email": f"{name}{rng.randint(1, 99)}@example.com",
        "phone": rng.choice(
            [
                f"1{rng.choice('3456789')}{rng.randint(0, 10**9 - 1):09d}",
                f"+44 20 7946 {rng.randint(0, 9999):04d}",
                f"+1 415-555-{rng.randint(0, 9999):04d}",
            ]
        ),
        "cn_id": _cn_resident_id(rng),
        "bank_card": _luhn_complete(rng.choice(["6222", "4111", "5500"]), rng),
        "ip": f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        "url_token": f"https://shop.example.com/reset?token={''.join(rng.choices(string.ascii_letters + string.digits, k=32))}",
        "api_key": "sk-" + "".join(rng.choices(string.ascii_letters + string.digits, k=40)),
    }
    value = values[kind]
    en = {
        "email": f"Please send the invoice to {value}, thanks.",
        "phone": f"You can call me back on {value} after 6pm.",
        "cn_id": f"My ID number is {value}, why was my verification rejected?",
        "bank_card": f"I paid with card {value} but the order still says unpaid.",
        "ip": f"The admin panel at {value} keeps timing out.",
        "url_token": f"The reset link {value} says expired.",
        "api_key": f"My code fails with key {value}, is it revoked?",
    }
    zh = {
        "email": f"发票请发到 {value}，谢谢。",
        "phone": f"我的手机号是{value}，麻烦回电。",
        "cn_id": f"我的身份证号是{value}，为什么实名认证失败？",
        "bank_card": f"我用银行卡{value}付款了，订单还显示未支付。",
        "ip": f"服务器 {value} 一直连不上。",
        "url_token": f"这个重置链接 {value} 打不开。",
        "api_key": f"我的密钥 {value} 调用报错了。",
    }
    return (en if lang == "en" else zh)[kind]


PII_KINDS = ("email", "phone", "cn_id", "bank_card", "ip", "url_token", "api_key")


def _near_duplicate(text: str, rng: random.Random, lang: str) -> str:
    if lang == "en":
        edits = [
            lambda t: "Please, " + t[0].lower() + t[1:],
            lambda t: t.rstrip("?.!") + "??",
            lambda t: t + " Thanks!",
            lambda t: t.replace(" I ", " i ", 1) + " pls",
        ]
    else:
        edits = [
            lambda t: "请问" + t,
            lambda t: t.rstrip("？。！") + "？？",
            lambda t: t + "谢谢！",
            lambda t: "你好，" + t,
        ]
    return rng.choice(edits)(text)


# --- surface variety ----------------------------------------------------------------------
# Real users phrase the same question many ways and assistants open and close answers
# differently; without this, one-exchange demo sessions would repeat word for word.

_ASK = {
    "en": (
        ["", "", "", "Hi! ", "Hey, ", "Quick question: ", "Hello. ", "Sorry to bother you, "],
        ["", "", "", " Thanks!", " Please help.", " Thank you in advance.", " (asking for a friend)"],
    ),
    "zh": (
        ["", "", "", "你好，", "请问", "问一下，", "我想问问，"],
        ["", "", "", "谢谢！", "急，在线等。", "麻烦了。"],
    ),
}
_ANSWER = {
    "en": (
        ["", "", "Sure! ", "Good question. ", "Happy to help. "],
        ["", "", " Hope this helps!", " Let me know if you need more detail.", " Anything else?"],
    ),
    "zh": (
        ["", "", "好的！", "这个问题问得好。", "没问题，"],
        ["", "", "希望对你有帮助！", "还有什么想了解的吗？", "有问题随时问我。"],
    ),
}


def _vary(text: str, lang: str, rng: random.Random, table: dict) -> str:
    before, after = table[lang]
    start = rng.choice(before)
    # "Quick question: how ..." continues a sentence; "Hi! How ..." starts a new one.
    if start.endswith((", ", ": ")) and lang == "en" and text[:1].isupper() and not text.startswith("I "):
        text = text[0].lower() + text[1:]
    return f"{start}{text}{rng.choice(after)}"


def _math_exchange(rng: random.Random, lang: str) -> tuple[str, str]:
    """An arithmetic question with its correct answer: checkable, and never the same twice."""
    kind = rng.randrange(3)
    if kind == 0:
        percent, whole = rng.choice([5, 10, 12, 15, 20, 25, 30, 40]), rng.randrange(40, 2000, 20)
        value = percent * whole / 100
        value_text = f"{value:g}"
        return (
            (f"What is {percent}% of {whole}?", f"{percent}% of {whole} is {percent / 100:g} × {whole} = {value_text}.")
            if lang == "en"
            else (f"{whole}的{percent}%是多少？", f"{whole} × {percent / 100:g} = {value_text}。")
        )
    if kind == 1:
        distance, hours = rng.randrange(60, 900, 10), rng.choice([1.5, 2, 2.5, 3, 4, 5])
        speed = f"{distance / hours:g}"
        return (
            (
                f"If a train travels {distance} km in {hours:g} hours, what is its average speed?",
                f"Average speed = {distance} km / {hours:g} h = {speed} km/h.",
            )
            if lang == "en"
            else (
                f"火车{hours:g}小时行驶了{distance}公里，平均速度是多少？",
                f"平均速度 = {distance} ÷ {hours:g} = {speed} 公里/小时。",
            )
        )
    a, b = rng.randrange(2, 20), rng.randrange(1, 60)
    c = a * rng.randrange(1, 15) + b
    x = f"{(c - b) / a:g}"
    return (
        (
            f"How do I solve {a}x + {b} = {c}?",
            f"Subtract {b} from both sides: {a}x = {c - b}, then divide by {a}: x = {x}.",
        )
        if lang == "en"
        else (f"{a}x + {b} = {c}，x 等于多少？", f"两边减去 {b} 得 {a}x = {c - b}，再除以 {a}，x = {x}。")
    )


# --- sessions -----------------------------------------------------------------------------


class _Builder:
    def __init__(self, seed: int, days: int, now: datetime):
        self.rng = random.Random(seed)
        self.seed = seed
        self.days = days
        self.now = now
        self.plan: dict[str, object] = defaultdict(list)
        self.plan["pii_types"] = {}
        self.plan["topic_switches"] = {}
        # A bad answer's id -> the answer it should have been (what a reviewer would write).
        self.plan["better_answers"] = {}
        self.sessions: list[dict] = []
        self.feedback: list[dict] = []
        self.openers_used: list[tuple[str, str]] = []  # (language, text) for near-duplicates

    def new_session(self, index: int, lang: str) -> dict:
        started = self.now - timedelta(days=self.rng.uniform(0, self.days))
        late = started > self.now - timedelta(days=self.days / 2)
        version = ("chat-v2" if self.rng.random() < 0.7 else "chat-v1") if late else "chat-v1"
        return {
            "id": f"demo-{self.seed}-{index:05d}",
            "app": "demo-chat",
            "channel": self.rng.choice(["web", "ios", "android"]),
            "user_id": f"user-{self.rng.randint(1, 120)}",
            "model_version": version,
            "started_at": started.isoformat(),
            "metadata": {"lang": lang, "locale": "en-GB" if lang == "en" else "zh-CN"},
            "messages": [],
        }

    def add(self, session: dict, role: str, content: str) -> str:
        position = len(session["messages"])
        created = datetime.fromisoformat(session["started_at"]) + timedelta(seconds=40 * position)
        message_id = f"{session['id']}-m{position}"
        session["messages"].append(
            {"id": message_id, "role": role, "content": content, "created_at": created.isoformat()}
        )
        return message_id

    def rate(self, session: dict, message_id: str, rating: int, reasons: list[str] | None = None) -> None:
        self.feedback.append(
            {
                "id": f"{message_id}-fb",
                "message_id": message_id,
                "rating": rating,
                "reasons": reasons or [],
                "created_at": session["messages"][-1]["created_at"],
            }
        )

    def answer(self, session: dict, lang: str, text: str, *, good: bool = True, better: dict | None = None) -> str:
        message_id = self.add(session, "assistant", text)
        if better:
            self.plan["better_answers"][message_id] = better
        if not good:
            self.rate(session, message_id, -1, self.rng.sample(["wrong", "incomplete", "unhelpful"], 1))
            self.plan["thumbs_down"].append(message_id)
        elif self.rng.random() < 0.3:
            up_rate = 0.82 if session["model_version"] == "chat-v2" else 0.62
            rating = 1 if self.rng.random() < up_rate else -1
            self.rate(session, message_id, rating, [] if rating == 1 else ["unhelpful"])
            if rating == -1:
                self.plan["thumbs_down"].append(message_id)
        return message_id

    def conversation(self, index: int) -> dict:
        rng = self.rng
        lang = "zh" if rng.random() < 0.5 else "en"
        session = self.new_session(index, lang)
        topic_name = rng.choice(sorted(TOPICS[lang]))
        topic = TOPICS[lang][topic_name]
        session["metadata"]["topic"] = topic_name
        if topic["task"] == "math" or (lang == "zh" and rng.random() < 0.08):
            session["metadata"]["topic"] = "math"
            opener, good_answer = _math_exchange(rng, lang)
        else:
            opener_index = rng.randrange(len(topic["openers"]))
            opener = _vary(topic["openers"][opener_index], lang, rng, _ASK)
            good_answer = _vary(topic["answers"][opener_index % len(topic["answers"])], lang, rng, _ANSWER)
        self.openers_used.append((lang, opener))
        self.add(session, "user", opener)
        bad_first = rng.random() < 0.12
        self.answer(
            session,
            lang,
            rng.choice(BAD_ANSWERS[lang]) if bad_first else good_answer,
            good=not bad_first,
            better={"task_type": topic["task"], "answer": good_answer} if bad_first else None,
        )
        switch_at = rng.randint(1, 2) if rng.random() < 0.15 else None
        for turn in range(1, rng.choice([1, 1, 2, 3, 4])):
            if turn == switch_at:
                other = rng.choice([name for name in sorted(TOPICS[lang]) if name != topic_name])
                other_topic = TOPICS[lang][other]
                pick = rng.randrange(len(other_topic["openers"]))
                switched = self.add(session, "user", other_topic["openers"][pick])
                self.plan["topic_switches"].setdefault(session["id"], []).append(switched)
                self.answer(session, lang, other_topic["answers"][pick % len(other_topic["answers"])])
                topic = other_topic
                continue
            self.add(session, "user", _vary(rng.choice(topic["followups"]), lang, rng, _ASK))
            self.answer(session, lang, _vary(rng.choice(FOLLOWUP_ANSWERS[lang]), lang, rng, _ANSWER))
        return session

    def planted(self, index: int) -> dict:
        """One session carrying a planted problem, chosen in rotation."""
        rng = self.rng
        kind = [
            "exact_duplicate",
            "near_duplicate",
            "pii",
            "garbage",
            "refusal",
            "no_answer",
            "traditional",
            "injection",
            "hostile_markup",
        ][index % 9]
        if kind == "exact_duplicate" and self.sessions:
            original = rng.choice(self.sessions)
            copy = {**original, "id": f"demo-{self.seed}-{index:05d}", "messages": []}
            for message in original["messages"]:
                self.add(copy, message["role"], message["content"])
            self.plan["exact_duplicates"].append((copy["id"], original["id"]))
            return copy
        lang = "zh" if rng.random() < 0.5 else "en"
        session = self.new_session(index, lang)
        if kind == "near_duplicate" and self.openers_used:
            lang, text = rng.choice(self.openers_used)
            session["metadata"]["lang"] = lang
            self.add(session, "user", _near_duplicate(text, rng, lang))
            self.answer(session, lang, rng.choice(FOLLOWUP_ANSWERS[lang]))
            self.plan["near_duplicates"].append((session["id"], text))
        elif kind == "pii":
            pii_kind = PII_KINDS[(index // 9) % len(PII_KINDS)]
            self.add(session, "user", _pii_sample(pii_kind, rng, lang))
            self.answer(
                session,
                lang,
                "I've passed this on to our support team." if lang == "en" else "已经帮你转给客服处理了。",
            )
            self.plan["pii"].append(session["id"])
            self.plan["pii_types"][session["id"]] = pii_kind
        elif kind == "garbage":
            self.add(session, "user", rng.choice(GARBAGE))
            self.answer(session, lang, "Sorry, I didn't understand that." if lang == "en" else "抱歉，我没看懂。")
            self.plan["garbage"].append(session["id"])
        elif kind == "refusal":
            topic = TOPICS[lang][rng.choice(sorted(TOPICS[lang]))]
            self.add(session, "user", rng.choice(topic["openers"]))
            self.answer(session, lang, rng.choice(REFUSALS[lang]), good=rng.random() < 0.5)
            self.plan["refusals"].append(session["id"])
        elif kind == "no_answer":
            topic = TOPICS[lang][rng.choice(sorted(TOPICS[lang]))]
            self.add(session, "user", rng.choice(topic["openers"]))
            self.plan["no_answer"].append(session["id"])
        elif kind == "traditional":
            self.add(session, "user", rng.choice(TRADITIONAL))
            self.answer(session, "zh", "你可以在官网下载安装包，双击运行后按提示操作即可。")
            self.plan["traditional"].append(session["id"])
        elif kind == "injection":
            self.add(session, "user", rng.choice(INJECTIONS))
            self.answer(
                session,
                lang,
                "I can help with questions about your order." if lang == "en" else "我可以帮你解答订单相关的问题。",
            )
            self.plan["injections"].append(session["id"])
        else:
            self.add(session, "user", rng.choice(HOSTILE_MARKUP))
            self.answer(
                session, "en", "Scripts in chat messages are shown as text; check your browser console for errors."
            )
            self.plan["hostile_markup"].append(session["id"])
        return session


def generate_demo(
    *,
    seed: int = 7,
    sessions: int = 300,
    days: int = 14,
    now: datetime | None = None,
    planted_share: float = 0.2,
    batch_size: int = 50,
) -> DemoData:
    """`sessions` sessions, about `planted_share` of them carrying a planted problem."""
    builder = _Builder(seed, days, now or datetime.now(UTC))
    for index in range(sessions):
        planted = index > 5 and builder.rng.random() < planted_share
        builder.sessions.append(builder.planted(index) if planted else builder.conversation(index))
    batches = []
    for start in range(0, len(builder.sessions), batch_size):
        chunk = builder.sessions[start : start + batch_size]
        ids = {m["id"] for s in chunk for m in s["messages"]}
        batches.append({"sessions": chunk, "feedback": [f for f in builder.feedback if f["message_id"] in ids]})
    return DemoData(batches=batches, plan=dict(builder.plan))
