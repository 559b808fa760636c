"""A minimal OpenAI-compatible chat-completions server over an alignrun LM.

Two uses: tests drive :class:`alignrun.judges.llm.LLMJudge` against a real HTTP server (the tiny
model) rather than a mock, and a user serves a local model as a judge::

    python -m alignrun.judges.serve model=tiny port=8000
    # LLMJudge(value, base_url="http://127.0.0.1:8000/v1", model="tiny")

Only ``POST /v1/chat/completions`` (also ``/chat/completions``) is answered, greedily, with the
model's own generation engine (:meth:`alignrun.lm.LM.generate`), so what the server says is what a
run's evaluation would say. ``temperature`` is ignored (always greedy: a judge wants one answer);
``max_tokens`` caps the new tokens. ``system`` messages become the system turn; the last ``user``
message is the prompt, and earlier turns, if any, are put before it as ``role: content`` lines,
because alignrun's engines format a single user turn. Requests are answered one at a time (a
lock): the model and its engine are not thread-safe.

This is a test and convenience server, not a production one: no auth, no streaming, no batching.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alignrun.lm import LM

PATHS = ("/v1/chat/completions", "/chat/completions")
DEFAULT_MAX_TOKENS = 64
MAX_TOKENS_CAP = 1024


def as_prompt(messages: list[dict[str, Any]]) -> tuple[str, str | None]:
    """(user prompt, system text or None) for alignrun's one-user-turn chat formatting.

    Raises:
        ValueError: no messages, a message that is not ``{role, content: str}``, or no user turn.
    """
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    systems: list[str] = []
    turns: list[tuple[str, str]] = []
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise ValueError("each message needs a 'role' and a string 'content'")
        role = str(message.get("role", "user"))
        if role == "system":
            systems.append(message["content"])
        else:
            turns.append((role, message["content"]))
    if not turns or turns[-1][0] != "user":
        raise ValueError("the last non-system message must be a user message")
    history = "".join(f"{role}: {content}\n\n" for role, content in turns[:-1])
    return history + turns[-1][1], ("\n\n".join(systems) or None)


def complete(lm: LM, body: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI ``chat.completion`` object answering request ``body`` (greedy, engine of ``lm``).

    Raises:
        ValueError: a malformed request (bad ``messages`` or ``max_tokens``).
    """
    from alignrun.schema import GenerationConfig

    prompt, system = as_prompt(body.get("messages"))  # type: ignore[arg-type]
    max_tokens = body.get("max_tokens") or DEFAULT_MAX_TOKENS
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError("'max_tokens' must be a positive integer")
    max_tokens = min(max_tokens, MAX_TOKENS_CAP)
    cfg = GenerationConfig(max_new_tokens=max_tokens, batch_size=1, do_sample=False, progress=False)
    [answer] = lm.generate([prompt], cfg, seed=0, systems=[system])
    tok = lm.tokenizer
    prompt_tokens = len(tok(lm.chat([prompt], [system])[0], add_special_tokens=False)["input_ids"])
    completion_tokens = len(tok(answer, add_special_tokens=False)["input_ids"]) if answer else 0
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model") or lm.name),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                # approximate: the answer is stripped and re-tokenised, so "length" is a best guess
                "finish_reason": "length" if completion_tokens >= max_tokens else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _error(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def make_handler(lm: LM, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``lm`` (``http.server`` builds one handler per request)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            if self.path.split("?")[0].rstrip("/") not in PATHS:
                self._send(404, _error(f"no route {self.path}; POST /v1/chat/completions"))
                return
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw)
                if not isinstance(body, dict):
                    raise ValueError("the request body must be a JSON object")
            except ValueError as exc:
                self._send(400, _error(f"bad JSON: {exc}"))
                return
            try:
                with lock:
                    reply = complete(lm, body)
            except ValueError as exc:
                self._send(400, _error(str(exc)))
                return
            except Exception as exc:  # the server stays up; the client sees a 500 it may retry
                self._send(500, _error(f"{type(exc).__name__}: {exc}", "server_error"))
                return
            self._send(200, reply)

        def do_GET(self) -> None:
            self._send(404, _error("POST /v1/chat/completions"))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests and judges send many requests

    return Handler


def serve(lm: LM, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Start serving ``lm`` in a daemon thread; ``port=0`` picks a free port.

    Returns:
        the running server: ``server.server_address[1]`` is its port, ``server.shutdown()`` then
        ``server.server_close()`` stop it.
    """
    server = ThreadingHTTPServer((host, port), make_handler(lm, threading.Lock()))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="alignrun-serve", daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> None:
    """``python -m alignrun.judges.serve [host=H] [port=P] [config overrides...]``, e.g. ``model=tiny``."""
    from hydra.errors import HydraException

    from alignrun.config import compose
    from alignrun.errors import AlignrunError
    from alignrun.models.adapter import build_lm

    args = list(sys.argv[1:] if argv is None else argv)
    host, port, overrides = "127.0.0.1", 8000, []
    for arg in args:
        key, _, val = arg.partition("=")
        if key == "host":
            host = val
        elif key == "port" and val.isdigit():
            port = int(val)
        elif key == "port":
            print(f"alignrun: error: port must be a number, got '{val}'", file=sys.stderr)
            raise SystemExit(2)
        else:
            overrides.append(arg)
    try:
        lm = build_lm(compose(overrides).model)
        server = serve(lm, host, port)
    except (AlignrunError, OSError, HydraException) as exc:  # Hydra's: an unknown option or override
        message = " ".join(str(exc).split("Config search path:")[0].split())
        print(f"alignrun: error: {message}", file=sys.stderr)
        raise SystemExit(getattr(exc, "exit_code", 2)) from None
    shown_host, shown_port = server.server_address[:2]
    print(f"serving {lm.name} at http://{shown_host!s}:{shown_port}/v1 (Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
