"""A scripted OpenAI-compatible server on 127.0.0.1, for client behaviour tests and benchmarks.

``script`` is consumed one entry per chat request, then ``default`` applies: ``ok``,
``nologprobs``, ``429``, ``500``, ``429ra`` (429 with ``Retry-After: <retry_after>``),
``429reset`` (429 with ``x-ratelimit-reset-requests``), ``exhausted`` (200 with
``x-ratelimit-remaining-requests: 0``), ``slow``, ``garbage``, ``prose`` (an answer that is not
parseable).

``shape`` mimics how a real server treats the log-prob request fields (as their docs and issue
trackers describe them):

* ``openai``   log-probs for ``logprobs: true``; ``top_logprobs`` 0-20, only with ``logprobs``.
* ``vllm``     like OpenAI, but (vLLM < 0.5, issue vllm#4795) HTTP 400 for ``logprobs: true``
               without ``top_logprobs``; ``top_logprobs`` above its max_logprobs (20) is a 400.
* ``llamacpp`` llama-cpp-python's server: ``"logprobs": null`` unless ``top_logprobs`` is sent.
* ``ollama``   Ollama >= 0.12.11 OpenAI API: log-probs for ``logprobs: true``.
* ``ollama-old`` older Ollama: both fields silently ignored, no log-probs ever.
* ``lmstudio`` LM Studio: accepts ``logprobs: true`` without error, answers without log-probs.
* ``strict``   rejects unknown fields (``top_logprobs``, ``response_format``) with HTTP 400
               "Unrecognized request argument supplied: <field>"; log-probs for ``logprobs``.

The answer labels the sentence's first word as a Chemical. ``usage.prompt_tokens`` comes from a
fixed fake tokenizer (characters / 4 + 3 per message), so token estimates can be checked.
``python -m tests.fake_openai --delay 0.2`` serves in its own process and prints its URL.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SHAPES = ("openai", "vllm", "llamacpp", "ollama", "ollama-old", "lmstudio", "strict")


def fake_prompt_tokens(messages: list[dict]) -> int:
    return sum(len(m.get("content") or "") for m in messages) // 4 + 3 * len(messages)


class FakeOpenAI:
    def __init__(self, default: str = "ok", delay: float = 0.0, shape: str = "openai",
                 models: tuple[str, ...] | None = None):
        assert shape in SHAPES, shape
        self.script: list[str] = []
        self.default = default
        self.delay = delay
        self.shape = shape
        self.models = list(models) if models else None  # None: any model is served
        self.slow_seconds = 3.0
        self.retry_after = "1"
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.times: list[float] = []
        self.paths: list[tuple[str, str]] = []
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.batch_requests: list[dict] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like real servers

            def log_message(self, *a):  # quiet
                pass

            def do_GET(self):
                outer.paths.append(("GET", self.path))
                path = self.path.split("?")[0]  # routed without the query string
                got = outer.batch_get(path)
                if got is not None:
                    if isinstance(got, bytes):
                        self._raw(200, got)
                    else:
                        self._send(*got)
                    return
                if path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [
                        {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                        for m in (outer.models or ["fake-model"])]})
                    return
                self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                outer.paths.append(("POST", self.path))
                path = self.path.split("?")[0]  # routed without the query string
                if path.endswith("/files") or path.endswith("/batches"):
                    with outer._lock:
                        outer.headers.append(dict(self.headers))
                        self._send(*outer.batch_post(path, raw, self.headers))
                    return
                if not path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {path}"}})
                    return
                body = json.loads(raw)
                with outer._lock:
                    outer.requests.append(body)
                    outer.headers.append(dict(self.headers))
                    outer.times.append(time.monotonic())
                    what = outer.script.pop(0) if outer.script else outer.default
                if outer.delay:
                    time.sleep(outer.delay)
                if what in ("429", "500"):
                    self._send(int(what), {"error": {"message": "nope", "type": "x"}})
                    return
                if what == "429ra":
                    self._send(429, {"error": {"message": "rate limited"}},
                               {"Retry-After": outer.retry_after})
                    return
                if what == "429reset":
                    self._send(429, {"error": {"message": "rate limited"}},
                               {"x-ratelimit-remaining-requests": "0",
                                "x-ratelimit-reset-requests": outer.retry_after})
                    return
                if what == "slow":
                    time.sleep(outer.slow_seconds)
                if what == "garbage":
                    self._raw(200, b"<html>not json</html>")
                    return
                if outer.models is not None and body.get("model") not in outer.models:
                    self._send(404, {"error": {"message": f"model {body.get('model')!r} not found"}})
                    return
                err = outer.reject(body)
                if err:
                    self._send(400, {"error": {"message": err, "type": "invalid_request_error"}})
                    return
                extra = ({"x-ratelimit-remaining-requests": "0",
                          "x-ratelimit-reset-requests": outer.retry_after}
                         if what == "exhausted" else {})
                self._send(200, outer.answer(body, what), extra)

            def _send(self, code, obj, headers=None):
                self._raw(code, json.dumps(obj).encode(), headers)

            def _raw(self, code, data, headers=None):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = 128
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # ---- Batch API (files + batches) -----------------------------------------------------
    def _batch_obj(self, b: dict) -> dict:
        return {"object": "batch", "endpoint": "/v1/chat/completions", "completion_window": "24h",
                "created_at": 0, "errors": None, **b}

    def batch_post(self, path: str, raw: bytes, headers) -> tuple[int, dict]:
        if path.endswith("/files"):
            boundary = headers["Content-Type"].split("boundary=")[1].strip('"').encode()
            content = purpose = None
            for part in raw.split(b"--" + boundary):
                head, _, data = part.partition(b"\r\n\r\n")
                data = data.removesuffix(b"\r\n")
                if b'name="file"' in head:
                    content = data
                elif b'name="purpose"' in head:
                    purpose = data.decode()
            fid = f"file-{len(self.files) + 1}"
            self.files[fid] = content or b""
            return 200, {"id": fid, "object": "file", "bytes": len(self.files[fid]),
                         "created_at": 0, "filename": "input.jsonl", "purpose": purpose,
                         "status": "processed"}
        req = json.loads(raw)
        bid = f"batch_{len(self.batches) + 1}"
        self.batches[bid] = {"id": bid, "input_file_id": req["input_file_id"],
                             "status": "validating", "metadata": req.get("metadata")}
        return 200, self._batch_obj(self.batches[bid])

    def complete_batches(self, fail: set[str] = frozenset()) -> None:
        """Finish every open batch: answer each line, except custom_ids in ``fail``."""
        for b in self.batches.values():
            if b["status"] == "completed":
                continue
            out, err = [], []
            for line in self.files[b["input_file_id"]].decode().splitlines():
                item = json.loads(line)
                self.batch_requests.append(item)
                if item["custom_id"] in fail:
                    err.append({"id": "r", "custom_id": item["custom_id"], "response": None,
                                "error": {"code": "server_error", "message": "failed"}})
                    continue
                out.append({"id": "r", "custom_id": item["custom_id"], "error": None,
                            "response": {"status_code": 200, "request_id": "q",
                                         "body": self.answer(item["body"], "ok")}})
            for name, rows in (("output_file_id", out), ("error_file_id", err)):
                if rows:
                    fid = f"file-{len(self.files) + 1}"
                    self.files[fid] = "".join(json.dumps(r) + "\n" for r in rows).encode()
                    b[name] = fid
            b["status"] = "completed"
            b["request_counts"] = {"total": len(out) + len(err), "completed": len(out),
                                   "failed": len(err)}

    def batch_get(self, path: str):
        parts = path.split("?")[0].rstrip("/").split("/")
        if parts[-1] == "batches":
            return 200, {"object": "list", "data": [self._batch_obj(b) for b in self.batches.values()],
                         "has_more": False}
        if len(parts) >= 2 and parts[-2] == "batches" and parts[-1] in self.batches:
            return 200, self._batch_obj(self.batches[parts[-1]])
        if parts[-1] == "content" and parts[-2] in self.files:
            return self.files[parts[-2]]
        return None

    # ---- server behaviour -----------------------------------------------------------------
    def reject(self, body: dict) -> str | None:
        """The 400 message this shape answers the request's log-prob fields with, if any."""
        lp, top = body.get("logprobs"), body.get("top_logprobs")
        if self.shape == "strict":
            for f in ("top_logprobs", "response_format"):
                if f in body:
                    return f"Unrecognized request argument supplied: {f}"
        if self.shape in ("openai", "vllm") and top is not None:
            if not lp:
                return "top_logprobs requires logprobs to be true"
            if not 0 <= top <= 20:
                return "top_logprobs must be between 0 and 20"
        if self.shape == "vllm" and lp and top is None:
            return "when logprobs is true, top_logprobs must be set"
        return None

    def gives_logprobs(self, body: dict) -> bool:
        if not body.get("logprobs"):
            return False
        if self.shape == "llamacpp":
            return body.get("top_logprobs") is not None
        return self.shape not in ("ollama-old", "lmstudio")

    def answer(self, body: dict, what: str) -> dict:
        msgs = body["messages"]
        sentence = msgs[-1]["content"].removeprefix("Sentence: ")
        first = sentence.split()[0] if sentence.split() else ""
        items = [{"text": first, "label": "Chemical"}]
        rf = (body.get("response_format") or {}).get("type")
        answer = json.dumps({"entities": items} if rf == "json_schema" else items)
        if what == "prose":  # a well-formed response whose answer cannot be parsed
            answer = "I am not sure what the entities are"
        toks = [answer[i:i + 4] for i in range(0, len(answer), 4)]
        choice: dict = {"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": answer}}
        if self.gives_logprobs(body) and what != "nologprobs":
            n_top = body.get("top_logprobs") or 0
            choice["logprobs"] = {"content": [
                {"token": t, "logprob": -0.1 - 0.01 * (len(sentence) % 7), "bytes": None,
                 "top_logprobs": [{"token": t, "logprob": -0.1, "bytes": None}][:n_top]}
                for t in toks]}
        elif self.shape in ("llamacpp", "openai", "vllm"):
            choice["logprobs"] = None
        ptoks = fake_prompt_tokens(msgs)
        return {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [choice],
                "usage": {"prompt_tokens": ptoks, "completion_tokens": len(toks),
                          "total_tokens": ptoks + len(toks)}}

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeOpenAIProcess:
    """The fake server in its own process (so its threads never compete for our GIL)."""

    def __init__(self, delay: float = 0.0, shape: str = "openai"):
        self.args = [sys.executable, "-m", "tests.fake_openai", "--delay", str(delay),
                     "--shape", shape]
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> FakeOpenAIProcess:
        from pathlib import Path

        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True,
                                     cwd=Path(__file__).resolve().parent.parent)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.proc.kill()
            raise RuntimeError("fake server did not start")
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--shape", default="openai", choices=SHAPES)
    a = ap.parse_args()
    srv = FakeOpenAI(delay=a.delay, shape=a.shape)
    print(srv.url, flush=True)
    try:
        srv.httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
