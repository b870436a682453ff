"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for client fault tests.

Each request takes the next behaviour from ``script`` (then ``default``): "ok", "429", "500",
"slow" (sleeps ``slow_seconds``), "garbage" (a body that is not JSON), "nologprobs". The "ok"
answer labels the first word of the sentence as Chemical. Bounded: it serves on loopback only
and is shut down by the fixture.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self, default: str = "ok", delay: float = 0.0):
        self.script: list[str] = []
        self.default = default
        self.delay = delay
        self.slow_seconds = 3.0
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer._lock:
                    outer.requests.append(body)
                    outer.headers.append(dict(self.headers))
                    what = outer.script.pop(0) if outer.script else outer.default
                if outer.delay:
                    time.sleep(outer.delay)
                if what in ("429", "500"):
                    self._send(int(what), {"error": {"message": "nope", "type": "x"}})
                    return
                if what == "slow":
                    time.sleep(outer.slow_seconds)
                if what == "garbage":
                    self._raw(200, b"<html>not json</html>")
                    return
                sentence = body["messages"][-1]["content"].removeprefix("Sentence: ")
                first = sentence.split()[0] if sentence.split() else ""
                answer = json.dumps([{"text": first, "label": "Chemical"}])
                toks = [answer[i:i + 4] for i in range(0, len(answer), 4)]
                choice = {"index": 0, "finish_reason": "stop",
                          "message": {"role": "assistant", "content": answer}}
                if what != "nologprobs":
                    choice["logprobs"] = {"content": [
                        {"token": t, "logprob": -0.1, "bytes": None, "top_logprobs": []}
                        for t in toks]}
                self._send(200, {"id": "x", "object": "chat.completion", "created": 0,
                                 "model": body["model"], "choices": [choice],
                                 "usage": {"prompt_tokens": 10, "completion_tokens": len(toks),
                                           "total_tokens": 10 + len(toks)}})

            def _send(self, code, obj):
                self._raw(code, json.dumps(obj).encode())

            def _raw(self, code, data):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
