"""Shared pieces of the reward tests: one tiny RM trained once per session, a real uvicorn server.

pytest's fixture sharing across modules would need the root conftest (another area's file), so
the trained checkpoint is cached here at module level: the first test module that asks trains
it (real MiniLM backbone, real fixture pairs), later ones reuse it.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
PAIRS = DATA / "reward_pairs.jsonl"

TINY_CFG = dict(backbone="minilm-l6", epochs=3, batch_size=12, lr=1e-4, max_length=64, val_fraction=0.25, patience=3, seed=0)

_CACHE: dict[str, object] = {}


def tiny_cfg(**over):
    from selfif.config import RMConfig

    return RMConfig(**(TINY_CFG | over))


def trained_rm() -> tuple[Path, dict]:
    """(checkpoint dir, metrics) of the session's tiny RM."""
    if "rm" not in _CACHE:
        from selfif.reward.train import train_rm

        root = Path(tempfile.mkdtemp(prefix="selfif-rm-test-"))
        atexit.register(shutil.rmtree, root, True)
        out = root / "rm"
        metrics = train_rm(PAIRS, out, tiny_cfg(), progress=False)
        _CACHE["rm"] = (out, metrics)
    return _CACHE["rm"]  # type: ignore[return-value]


def loaded_rm():
    if "loaded" not in _CACHE:
        from selfif.reward.model import ConstraintRM

        _CACHE["loaded"] = ConstraintRM.load(trained_rm()[0], device="cpu")
    return _CACHE["loaded"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """A real uvicorn server on 127.0.0.1 in a background thread (start/stop, same port)."""

    def __init__(self, rm, port: int, limits=None):
        self.rm, self.port, self.limits = rm, port, limits
        self.server = None
        self.thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> "ServerThread":
        import uvicorn

        from selfif.reward.server import create_app

        config = uvicorn.Config(create_app(self.rm, self.limits), host="127.0.0.1", port=self.port, log_level="warning")
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
