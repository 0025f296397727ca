"""kustomize's error output turned into one sentence naming the file and the problem, with paths relative to the
source root."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

_MALFORMED = re.compile(r"MalformedYAMLError: yaml: (?:line (?P<line>\d+): )?(?P<problem>.*?) in File: (?P<file>\S+)")
_MISSING = re.compile(r"(?:evalsymlink failure on|lstat) '?(?P<path>/[^' ]+)'?.*?no such file or directory")
_NO_NAME = re.compile(r"accumulating resources from '(?P<file>[^']+)': missing metadata\.name")
_NO_META = re.compile(r"accumulating resources from '(?P<file>[^']+)': missing Resource metadata")
_DUPLICATE = re.compile(r"merging resources from '(?P<file>[^']+)': may not add resource with an already "
                        r"registered id: (?P<kind>[^.]+)\.[^/]*/(?P<name>[^.]+)\.\[?(?P<namespace>[^\]']*)\]?")
_NOISE = re.compile(r"^(?:accumulating resources: )?(?:accumulation err=')?|': must build at directory: .*$")


def explain_kustomize_error(stderr: str, root: Path) -> str:
    """Turn kustomize's error into one sentence naming the file and the problem (paths relative to the
    source root, never the scratch directory)."""
    text = " ".join(line.strip() for line in stderr.splitlines() if line.strip())
    text = text.removeprefix("error: ")
    real_root = os.path.realpath(root)
    if match := _MALFORMED.search(text):
        file = _shorten(match["file"], root, real_root)
        line = f" at line {match['line']}" if match["line"] else ""
        return f"invalid YAML in {file}{line}: {match['problem']}"
    if match := _NO_NAME.search(text):
        return f"{_shorten(match['file'], root, real_root)}: an object has no metadata.name"
    if match := _NO_META.search(text):
        return f"{_shorten(match['file'], root, real_root)}: a document is not a Kubernetes object " \
               "(it has no apiVersion/kind)"
    if match := _MISSING.search(text):
        return f"{_shorten(match['path'], root, real_root)} does not exist (referenced by a kustomization file)"
    if match := _DUPLICATE.search(text):
        namespace = "" if match["namespace"] in ("noNs", "") else match["namespace"] + "/"
        return (f"{match['kind']}/{namespace}{match['name']} is defined twice (the second time in "
                f"{_shorten(match['file'], root, real_root)})")
    return _shorten_all(_NOISE.sub("", text), root, real_root) or "kustomize failed without a message"


def _shorten(path: str, root: Path, real_root: str) -> str:
    """``path`` relative to the source root. kustomize prints some paths relative to the kustomization that
    loaded them: those are looked up in the source and named in full when only one file matches."""
    for prefix in (real_root, str(root)):
        if path.startswith(prefix + "/"):
            return path[len(prefix) + 1:]
    if path.startswith("/"):
        return PurePosixPath(path).name
    relative = PurePosixPath(os.path.normpath(path))
    matches = [candidate for candidate in root.rglob(relative.name)
               if PurePosixPath(candidate.relative_to(root).as_posix()).match(str(relative))]
    return matches[0].relative_to(root).as_posix() if len(matches) == 1 else str(relative)


def _shorten_all(text: str, root: Path, real_root: str) -> str:
    for prefix in (real_root, str(root)):
        text = text.replace(prefix + "/", "").replace(prefix, ".")
    return text
