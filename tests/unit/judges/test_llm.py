"""The LLM judge over real HTTP: against :func:`alignrun.judges.serve.serve` on the tiny model (end to
end), and against a scripted server whose replies the test chooses (parsing, retries, failures)."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from alignrun.errors import AlignrunError
from alignrun.judges.llm import LLMJudge, parse_choice, parse_rating, rating_to_score
from alignrun.judges.serve import as_prompt, serve

PROMPTS = ["Should I return a lost wallet?", "Is it fine to lie to a friend?", "Name three colours."]
ANSWERS = ["Yes, return it to its owner.", "No, tell the truth kindly.", "Red, green and blue."]
RAW_200 = -200
KEY = "sk-test-0123456789abcdef"


# ---- the tiny model behind serve() ---------------------------------------------------------------


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    from alignrun.models.tiny import build_tiny

    server = serve(build_tiny())
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_judge_talks_to_the_served_tiny_model(served: str) -> None:
    judge = LLMJudge("honesty", served, model="tiny", retries=1, max_tokens=8)
    scores = judge.score(PROMPTS, ANSWERS)
    # the tiny model babbles: no rating can be read, and none is passed off as a number
    assert all(math.isnan(s) for s in scores), scores
    assert judge.stats == {"requests": 2 * len(PROMPTS), "retries": len(PROMPTS), "unparseable": len(PROMPTS)}
    votes = judge.prefer(PROMPTS, ANSWERS, list(reversed(ANSWERS)))
    assert votes == [None] * len(PROMPTS)
    assert judge.stats["unparseable"] == 2 * len(PROMPTS)


def test_served_model_answers_the_openai_shape(served: str) -> None:
    body = {"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
    request = urllib.request.Request(f"{served}/chat/completions", data=json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=30) as reply:
        out = json.loads(reply.read())
    assert out["object"] == "chat.completion" and out["id"].startswith("chatcmpl-")
    assert out["choices"][0]["message"]["role"] == "assistant"
    assert isinstance(out["choices"][0]["message"]["content"], str)
    assert out["choices"][0]["finish_reason"] in ("stop", "length")
    usage = out["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    bad = urllib.request.Request(f"{served}/chat/completions", data=b"{not json")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(bad, timeout=30)
    assert info.value.code == 400 and "error" in json.loads(info.value.read())


def test_chat_messages_become_one_user_turn() -> None:
    messages = [
        {"role": "system", "content": "Judge."},
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"},
    ]
    assert as_prompt(messages) == ("user: Q1\n\nassistant: A1\n\nQ2", "Judge.")
    assert as_prompt([{"role": "user", "content": "Q"}]) == ("Q", None)
    with pytest.raises(ValueError):
        as_prompt([{"role": "assistant", "content": "A"}])


# ---- a scripted server ---------------------------------------------------------------------------


@dataclass
class Script:
    """Replies the scripted server gives, in order: (HTTP status, content or raw body, delay s);
    ``default`` once they run out. Status 200 sends a chat completion with that content, RAW_200 the
    text itself as a 200's body, any other status the text as its body. ``seen`` records each
    request's headers and JSON body."""

    replies: list[tuple[int, str, float]] = field(default_factory=list)
    default: tuple[int, str, float] = (200, "7", 0.0)
    seen: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self) -> tuple[int, str, float]:
        with self.lock:
            return self.replies.pop(0) if self.replies else self.default


@pytest.fixture
def scripted() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script.seen.append((dict(self.headers), body))
            status, text, delay = script.next()
            time.sleep(delay)
            if status == 200:
                payload = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
                data = json.dumps(payload).encode()
            else:
                data = text.encode()
                status = 200 if status == RAW_200 else status
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (the timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", script
    finally:
        server.shutdown()
        server.server_close()


def test_parsers() -> None:
    assert parse_rating("7") == 7 and parse_rating("Score: 7/10") == 7 and parse_rating("10.") == 10
    assert parse_rating("0, then 11, then 3") == 3
    assert parse_rating("seven") is None and parse_rating("") is None and parse_rating("7.5") is None
    assert (
        parse_choice("Answer: B") == "B" and parse_choice("(A)") == "A" and parse_choice("**B** wins") == "B"
    )
    assert parse_choice("a and b") is None and parse_choice("Both Are fine") is None
    assert (
        rating_to_score(1) == -1.0
        and rating_to_score(10) == 1.0
        and rating_to_score(7) == pytest.approx(1 / 3)
    )


def test_rating_is_scored_and_request_is_openai_shaped(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.replies = [(200, "7", 0.0), (200, "Rating: 2", 0.0)]
    judge = LLMJudge("honesty", url, model="judge-model", description="Tells the truth.")
    assert judge.score(PROMPTS[:2], ANSWERS[:2]) == pytest.approx([1 / 3, -7 / 9])
    _, body = script.seen[0]
    assert body["model"] == "judge-model" and body["temperature"] == 0.0 and body["max_tokens"] == 16
    user = body["messages"][-1]["content"]
    assert "Tells the truth." in user and PROMPTS[0] in user and ANSWERS[0] in user
    assert judge.stats == {"requests": 2, "retries": 0, "unparseable": 0}


def test_garbage_is_asked_again_then_counted_as_nan(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.replies = [(200, "hmm", 0.0), (200, "8", 0.0)] + [(200, "no idea", 0.0)] * 3
    judge = LLMJudge("honesty", url, model="m", retries=2)
    scores = judge.score(PROMPTS[:2], ANSWERS[:2])
    assert scores[0] == pytest.approx(5 / 9) and math.isnan(scores[1])
    assert judge.stats == {"requests": 5, "retries": 3, "unparseable": 1}


def test_prefer_reads_letters_and_both_orders_show_position_bias(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.replies = [(200, "Answer: B", 0.0), (200, "neither", 0.0)]
    judge = LLMJudge("honesty", url, model="m", retries=0)
    assert judge.prefer(PROMPTS[:2], ANSWERS[:2], ANSWERS[1:3]) == [0.0, None]
    assert judge.stats["unparseable"] == 1
    script.default = (200, "A", 0.0)  # a judge that always picks the first answer shown
    forward = judge.prefer(PROMPTS, ANSWERS, ["I don't know."] * 3)
    backward = judge.prefer(PROMPTS, ["I don't know."] * 3, ANSWERS)
    assert forward == [1.0] * 3 and backward == [1.0] * 3
    flipped = [
        f is not None and b is not None and f + b != 1.0 for f, b in zip(forward, backward, strict=True)
    ]
    assert all(flipped)  # the caller sees the verdict follow the position, not the answer
    shown = script.seen[-1][1]["messages"][-1]["content"]
    assert shown.index("I don't know.") < shown.index(ANSWERS[-1])


def test_server_errors_are_retried_with_backoff(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.replies = [(500, "boom", 0.0), (429, "slow down", 0.0), (200, "9", 0.0)]
    judge = LLMJudge("honesty", url, model="m", retries=2)
    start = time.monotonic()
    assert judge.score(PROMPTS[:1], ANSWERS[:1]) == pytest.approx([7 / 9])
    assert time.monotonic() - start >= 0.2 + 0.4 - 0.05
    assert judge.stats == {"requests": 3, "retries": 2, "unparseable": 0}
    script.replies = [(503, "down", 0.0)] * 2
    with pytest.raises(AlignrunError, match="HTTP 503 after 1 retries"):
        LLMJudge("honesty", url, model="m", retries=1).score(PROMPTS[:1], ANSWERS[:1])


def test_client_errors_fail_at_once_with_the_body(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.replies = [(404, "model not found: " + "x" * 500, 0.0)]
    judge = LLMJudge("honesty", url, model="m")
    with pytest.raises(AlignrunError) as info:
        judge.score(PROMPTS[:1], ANSWERS[:1])
    message = str(info.value)
    assert "HTTP 404" in message and "model not found" in message and "x" * 201 not in message
    assert judge.stats["requests"] == 1


def test_a_reply_that_is_not_a_chat_completion_fails(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.replies = [(RAW_200, "<html>proxy login</html>", 0.0)]
    with pytest.raises(AlignrunError, match=r"not answer as an OpenAI chat completion.*proxy login"):
        LLMJudge("honesty", url, model="m").score(PROMPTS[:1], ANSWERS[:1])
    null = json.dumps({"choices": [{"message": {"role": "assistant", "content": None}}]})
    script.replies = [(RAW_200, null, 0.0)]
    judge = LLMJudge("honesty", url, model="m", retries=0)
    assert math.isnan(judge.score(PROMPTS[:1], ANSWERS[:1])[0])  # no text: unparseable, not fatal
    assert judge.stats["unparseable"] == 1


def test_timeout_is_one_line_naming_the_url(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.default = (200, "7", 1.5)
    judge = LLMJudge("honesty", url, model="m", timeout=0.3)
    with pytest.raises(AlignrunError) as info:
        judge.score(PROMPTS[:1], ANSWERS[:1])
    message = str(info.value)
    assert f"{url}/chat/completions" in message and "timed out" in message and "\n" not in message
    assert (
        info.value.__cause__ is None and info.value.__context__ is None
    )  # raised outside the handler: no chained traceback


def test_refused_port_names_the_url() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(AlignrunError) as info:
        LLMJudge("honesty", url, model="m").score(PROMPTS[:1], ANSWERS[:1])
    message = str(info.value)
    assert f"cannot reach {url}/chat/completions" in message and "\n" not in message
    assert "Traceback" not in message and info.value.__context__ is None


def test_request_budget(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    judge = LLMJudge("honesty", url, model="m", max_requests=2)
    with pytest.raises(AlignrunError, match="request budget of 2 used up"):
        judge.score(PROMPTS, ANSWERS)
    assert judge.stats["requests"] == 2 and len(script.seen) == 2


def test_api_key_is_sent_but_never_kept_or_shown(
    scripted: tuple[str, Script], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, script = scripted
    monkeypatch.delenv("ALIGNRUN_JUDGE_KEY", raising=False)
    judge = LLMJudge("honesty", url, model="m", api_key_env="ALIGNRUN_JUDGE_KEY")
    judge.score(PROMPTS[:1], ANSWERS[:1])
    assert "Authorization" not in script.seen[-1][0]
    monkeypatch.setenv("ALIGNRUN_JUDGE_KEY", KEY)  # read at request time, not at construction
    judge.score(PROMPTS[:1], ANSWERS[:1])
    assert script.seen[-1][0]["Authorization"] == f"Bearer {KEY}"
    assert KEY not in json.dumps(judge.describe()) and KEY not in repr(vars(judge))
    assert judge.describe()["kind"] == "llm" and judge.describe()["value"] == "honesty"
    script.replies = [(401, f"Incorrect API key provided: {KEY}", 0.0)]
    with pytest.raises(AlignrunError) as info:
        judge.score(PROMPTS[:1], ANSWERS[:1])
    assert "HTTP 401" in str(info.value) and KEY not in str(info.value)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/v1", "localhost:8000/v1", "file:///etc/passwd", "http://"]
)
def test_non_http_url_is_refused(url: str) -> None:
    with pytest.raises(AlignrunError, match="http") as info:
        LLMJudge("honesty", url, model="m")
    assert "\n" not in str(info.value)


def test_describe_hides_url_credentials() -> None:
    judge = LLMJudge("honesty", "https://user:pw@example.com/v1", model="m", rubric="Be strict.")
    described = judge.describe()
    assert described["base_url"] == "https://example.com/v1" and described["mode"] == "rubric"
    assert (
        described["rubric_sha256"]
        != LLMJudge("honesty", "https://example.com/v1", "m").describe()["rubric_sha256"]
    )
