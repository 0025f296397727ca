"""Local git server: push-to-webhook latency (median of 20 pushes) and clone time of a small repository."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import private_state_home, summary, write
from sandbox import lifecycle
from sandbox.config import UpOptions
from sandbox.git import repo as repos
from sandbox.git import service
from sandbox.git.webhook_recorder import WebhookRecorder
from sandbox.state import StateDir
from sandbox.waiting import wait_until

PUSHES = int(os.environ.get("BENCH_PUSHES", "20"))
CLONES = int(os.environ.get("BENCH_CLONES", "10"))


def small_repo(root: Path) -> Path:
    """Ten small YAML files in three folders, like a typical app overlay."""
    for index in range(10):
        path = root / f"dir{index % 3}" / f"file{index}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{index}\ndata:\n  k: v{index}\n")
    return root


def main() -> None:
    private_state_home()
    name = "bench-git"
    work = Path(tempfile.mkdtemp(prefix="bench-git-"))
    lifecycle.up(UpOptions(name=name, git="local"))
    try:
        server = service.connect(StateDir(name))
        server.create_repo("bench")
        repos.seed_from_dir(server, "bench", small_repo(work / "seed"))
        after_return, after_start, push_seconds = [], [], []
        with WebhookRecorder(secret="bench") as recorder:
            server.register_webhook("bench", recorder.url, "bench")
            copy = repos.clone(server, "bench", work / "pusher")
            for index in range(PUSHES):
                copy.write({"dir0/counter.txt": str(index)})
                copy.commit(f"push {index}")
                started = time.time()
                copy.push()
                returned = time.time()
                got = wait_until(lambda n=index + 1: recorder.snapshot()[n - 1] if len(recorder.snapshot()) >= n
                                 else None, timeout=10, what=f"webhook {index + 1}")
                push_seconds.append(returned - started)
                after_start.append(got.at - started)
                after_return.append(got.at - returned)
        clone_seconds = []
        for index in range(CLONES):
            target = work / f"clone{index}"
            started = time.perf_counter()
            repos.clone(server, "bench", target)
            clone_seconds.append(time.perf_counter() - started)
            shutil.rmtree(target)
        write("git", {
            "push_seconds": summary(push_seconds),
            "webhook_after_push_start_seconds": summary(after_start),
            "webhook_after_push_returned_seconds": summary(after_return),
            "clone_small_repo_seconds": summary(clone_seconds),
            "targets": {"webhook_after_push_returned_seconds_max": 1.0},
        })
    finally:
        lifecycle.down(name)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
