"""A real HTTP server on loopback that speaks the OpenAI chat-completions protocol, with scripted faults.

``FakeOpenAIServer(responder)`` serves ``POST /v1/chat/completions`` on 127.0.0.1 (a free port)
from a background thread. For each request ``responder(body, n)`` (``n`` = 1-based request count)
returns a ``Reply``: status code, delay before answering (to provoke client timeouts), message
content, optional ``top_logprobs`` ({token: logprob}) and raw body override. The server counts
requests and keeps their JSON bodies (``bodies``) for assertions.

Structured outputs: with ``structured_outputs=False`` a request asking for
``response_format: {"type": "json_schema"}`` is answered 400, as servers without structured
outputs do (the responder is not called, the request is counted). ``schema_instance`` builds the
reply a server that honours the schema would send.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    content: str = "50"
    status: int = 200
    delay_s: float = 0.0
    top_logprobs: dict[str, float] | None = None  # returned only when the request asks for logprobs
    body: str | None = None  # raw response body (overrides everything else)
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[dict[str, Any], int], Reply]


def completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """A chat.completion object, with logprobs when asked for and provided."""
    logprobs = None
    if body.get("logprobs") and reply.top_logprobs is not None:
        top = sorted(reply.top_logprobs.items(), key=lambda item: -item[1])[: body.get("top_logprobs") or 0]
        chosen = top[0] if top else (reply.content, 0.0)
        logprobs = {
            "content": [
                {
                    "token": chosen[0],
                    "logprob": chosen[1],
                    "bytes": list(chosen[0].encode()),
                    "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in top],
                }
            ],
            "refusal": None,
        }
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content, "refusal": None},
                "logprobs": logprobs,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def schema_instance(schema: dict[str, Any]) -> Any:
    """A value valid under the small JSON-schema subset the judges send: an enum's first member,
    ``true`` for booleans, empty arrays, objects with every property."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema["type"][0] if isinstance(schema["type"], list) else schema["type"]
    if kind == "object":
        return {name: schema_instance(sub) for name, sub in schema["properties"].items()}
    return {"boolean": True, "array": [], "string": "", "null": None}[kind]


def requested_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a request asks the reply to follow, if any."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") != "json_schema":
        return None
    return response_format["json_schema"]["schema"]


class FakeOpenAIServer:
    def __init__(self, responder: Responder, structured_outputs: bool = True) -> None:
        self.responder = responder
        self.structured_outputs = structured_outputs
        self.requests = 0
        self.bodies: list[dict[str, Any]] = []
        self.authorization: list[str] = []  # kept in memory only, to check the key was sent
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests += 1
                    n = server.requests
                    server.bodies.append(body)
                    server.authorization.append(self.headers.get("Authorization", ""))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    reply = Reply(status=404, body='{"error": {"message": "not found"}}')
                elif not server.structured_outputs and requested_schema(body) is not None:
                    message = "response_format type json_schema is not supported by this server"
                    reply = Reply(status=400, body=json.dumps({"error": {"message": message, "type": "invalid"}}))
                else:
                    reply = server.responder(body, n)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.body is not None:
                    payload = reply.body
                elif reply.status == 200:
                    payload = json.dumps(completion(body, reply))
                else:
                    payload = json.dumps(
                        {"error": {"message": f"scripted {reply.status}", "type": "fake", "code": None}}
                    )
                data = payload.encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
