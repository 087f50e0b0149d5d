"""Shared pieces of the reward tests: the tiny RM's settings and a real uvicorn server.

The RM itself is trained once per session by the ``trained_rm`` / ``loaded_rm`` fixtures in
``conftest.py`` (real MiniLM backbone, real fixture pairs).
"""

from __future__ import annotations

import socket
import threading
import time

from conftest import DATA

PAIRS = DATA / "reward_pairs.jsonl"

TINY_CFG = dict(backbone="minilm-l6", epochs=3, batch_size=12, lr=1e-4, max_length=64, val_fraction=0.25, patience=3, seed=0)

def tiny_cfg(**over):
    from selfif.config import RMConfig

    return RMConfig(**(TINY_CFG | over))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """A real uvicorn server on 127.0.0.1 in a background thread (start/stop, same port)."""

    def __init__(self, rm, port: int, limits=None, docs: bool = False):
        self.rm, self.port, self.limits, self.docs = rm, port, limits, docs
        self.server = None
        self.thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> "ServerThread":
        import uvicorn

        from selfif.reward.server import create_app

        config = uvicorn.Config(create_app(self.rm, self.limits, docs=self.docs), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + timeout
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(10)
            self.server = None
