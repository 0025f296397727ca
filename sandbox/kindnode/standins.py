"""Stand-ins for the public images the scenarios run (``nginx:1.25``, ``postgres:16`` …), for machines that cannot
pull them: ``python -m sandbox.kindnode.standins``.

On a kind cluster pods really pull their images; where a public image can be neither found in the local Docker
engine nor pulled, its pods never start. For each such image this builds a local image tagged with exactly that
name from the synthetic images' busybox layer (Debian's busybox-static): it serves ``/usr/share/nginx/html`` on
port 80 until SIGTERM, as the images ``sandbox image push`` makes. That keeps a scenario's pods running and Ready
(and an HTTP readiness probe passing); it is not nginx, nor postgres. Stand-ins carry the label
``io.gitops-sandbox.standin=true``; a real image of the same name is never replaced. Load them into a kind sandbox
with ``sandbox up --cluster kind --load-image IMAGE`` (or ``sandbox image load``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from sandbox.errors import InputError, SandboxError
from sandbox.registry.oci import BUSYBOX, DOCUMENT_ROOT, RUN_FOREVER
from sandbox.scenario.catalog import BUILTIN
from sandbox.tools import busybox as busybox_tool
from sandbox.tools import docker, rootfs

LABEL = "io.gitops-sandbox.standin"
LABEL_FOR = "io.gitops-sandbox.standin.for"
LABEL_LAYOUT = "io.gitops-sandbox.standin.layout"
VALUE = "true"
LAYOUT = "2"  # what a stand-in holds; a stand-in of another layout is built again (2: busybox's applets linked)
# The folders searched by default: the built-in scenarios (with their charts) and the parity cases.
PARITY_CASES = BUILTIN.parent / "tests" / "parity"

# `image: nginx:1.25` (in a manifest, a chart template or a list item); nothing templated (${…}, {{ … }}).
_IMAGE_LINE = re.compile(r"""^\s*(?:-\s*)?image:\s*["']?([A-Za-z0-9][A-Za-z0-9._/:@-]*)["']?\s*(?:#.*)?$""")
_REFERENCE = re.compile(r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9._-]*)?(@sha256:[0-9a-f]{64})?$")


def default_roots() -> list[Path]:
    return [root for root in (BUILTIN, PARITY_CASES) if root.is_dir()]


def _is_reference(value: str) -> bool:
    """A pullable public reference written out in full (a tag or digest; not ``${registry}/…``)."""
    return bool(_REFERENCE.match(value)) and (":" in value or "@" in value)


def _chart_default(chart_yaml: Path) -> str | None:
    """``repository:tag`` a chart runs unless told otherwise: values.yaml's ``image.repository`` with its
    ``image.tag``, else the chart's ``appVersion``."""
    values_file = chart_yaml.parent / "values.yaml"
    try:
        chart = yaml.safe_load(chart_yaml.read_text()) or {}
        values = (yaml.safe_load(values_file.read_text()) or {}) if values_file.is_file() else {}
    except yaml.YAMLError:
        return None
    image = values.get("image") if isinstance(values, dict) else None
    if not isinstance(image, dict) or not isinstance(image.get("repository"), str):
        return None
    tag = str(image.get("tag") or chart.get("appVersion") or "")
    reference = f"{image['repository']}:{tag}" if tag else ""
    return reference if _is_reference(reference) else None


def scenario_images(roots: Iterable[Path] | None = None) -> list[str]:
    """The public images the scenarios under ``roots`` run: every literal ``image:`` in their YAML files (manifests,
    chart templates such as a helm test's hook), and each chart's default image; sorted, without duplicates."""
    found: set[str] = set()
    for root in default_roots() if roots is None else roots:
        for path in sorted(root.rglob("*")):
            if path.suffix not in (".yaml", ".yml") or not path.is_file():
                continue
            if path.name == "Chart.yaml":
                chart = _chart_default(path)
                if chart:
                    found.add(chart)
            for line in path.read_text(errors="replace").splitlines():
                match = _IMAGE_LINE.match(line)
                if match and _is_reference(match.group(1)):
                    found.add(match.group(1))
    return sorted(found)


# --- what each image needs -----------------------------------------------------------------------------------------

HAVE_REAL = "real image present"
HAVE_STANDIN = "stand-in present"
OUTDATED = "stand-in of an older layout"
PULLED = "pulled"
BUILD = "build a stand-in"


@dataclass(frozen=True)
class Decision:
    image: str
    action: str  # one of the constants above
    why: str = ""  # for BUILD: why it could not be pulled


def decide(image: str, labels: Callable[[str], dict[str, str] | None], pull: Callable[[str], str] | None) -> Decision:
    """What ``image`` needs: nothing when the engine has it (real, or one of our stand-ins), nothing when ``pull``
    (None: do not try) gets it, else a stand-in."""
    present = labels(image)
    if present is not None and LABEL in present and present.get(LABEL_LAYOUT) != LAYOUT:
        return Decision(image, BUILD, OUTDATED)
    if present is not None:
        return Decision(image, HAVE_STANDIN if LABEL in present else HAVE_REAL)
    if pull is None:
        return Decision(image, BUILD, "not pulled (--no-pull)")
    failed = pull(image)
    if not failed:
        return Decision(image, PULLED)
    return Decision(image, BUILD, failed.splitlines()[0][:200])


# --- building one --------------------------------------------------------------------------------------------------

def page(image: str) -> str:
    return (f"gitops-sandbox stand-in for {image}: a busybox httpd serving this page on port 80, not the real "
            "image (python -m sandbox.kindnode.standins)\n")


def rootfs_files(image: str, busybox: Path = BUSYBOX, applets: Sequence[str] = ("sh",)) -> tuple[
        dict[str, tuple[rootfs.Content, int]], dict[str, str]]:
    """(files, symlinks) of the stand-in's root filesystem: the static busybox with each of its ``applets`` linked
    in ``/bin`` (as busybox's own image has them: a pod's ``command: [wget, …]`` finds its program), and an
    ``index.html`` naming the stand-in in the document root (its own content, so every stand-in has its own image
    ID: containerd's CRI does not see a second name for an ID a node already holds)."""
    files: dict[str, tuple[rootfs.Content, int]] = {
        "/bin/busybox": (busybox, 0o755),
        f"/{DOCUMENT_ROOT}/index.html": (page(image).encode(), 0o644),
    }
    links = {f"/bin/{applet}": "busybox" for applet in dict.fromkeys(["sh", *applets]) if applet != "busybox"}
    return files, links


def changes(image: str) -> list[str]:
    """The Dockerfile instructions ``docker import`` applies: the synthetic images' command, port 80, the labels."""
    return [f"CMD {json.dumps(RUN_FOREVER)}", "EXPOSE 80",
            f"LABEL {LABEL}={VALUE} {LABEL_FOR}={json.dumps(image)} {LABEL_LAYOUT}={LAYOUT}"]


def build(image: str, busybox: Path = BUSYBOX) -> str:
    """Build the stand-in ``image`` (refused when a real image of that name is there); returns its image id."""
    if not busybox.is_file():
        raise InputError(f"stand-in images are built from a static busybox at {busybox}: "
                         "`apt-get install busybox-static`")
    present = docker.image_labels(image)
    if present is not None and LABEL not in present:
        raise InputError(f"{image} is a real image in the Docker engine; a stand-in never replaces it")
    if present is not None:
        docker.remove_image(image)  # an older stand-in: not left behind untagged
    files, symlinks = rootfs_files(image, busybox, busybox_tool.applets(busybox))
    repository, tag = rootfs.split_image(image)
    with tempfile.TemporaryDirectory(prefix="standin-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        rootfs.write(tarball, files, symlinks=symlinks)
        return docker.import_rootfs(tarball, repository, tag, changes(image))


def ensure(images: Sequence[str], *, try_pull: bool = True,
           log: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> list[Decision]:
    """A stand-in for each of ``images`` that the engine neither has nor can pull; returns every decision."""
    decisions = [decide(image, docker.image_labels, docker.pull if try_pull else None) for image in images]
    for decision in decisions:
        if decision.action == BUILD:
            build(decision.image)
            log(f"built stand-in {decision.image} ({decision.why})")
        else:
            log(f"{decision.image}: {decision.action}")
    return decisions


def present(images: Sequence[str]) -> list[str]:
    """Those of ``images`` the local engine has (real or stand-in): what to load into a kind cluster."""
    return [image for image in images if docker.image_exists(image)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.kindnode.standins", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="*", help="images to provide (default: those the scenarios run)")
    parser.add_argument("--scenarios", type=Path, nargs="*", default=None,
                        help="folders to search for images (default: the built-in scenarios and tests/parity)")
    parser.add_argument("--no-pull", action="store_true", help="do not try `docker pull` first")
    parser.add_argument("--list", action="store_true", help="only print the images the scenarios run")
    args = parser.parse_args(argv)
    images = args.images or scenario_images(args.scenarios)
    if args.list:
        print("\n".join(images))
        return 0
    try:
        decisions = ensure(images, try_pull=not args.no_pull)
    except SandboxError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    built = [d.image for d in decisions if d.action == BUILD]
    if built:
        print(f"built {len(built)} stand-in(s): {', '.join(built)}. These are NOT the real images: each is a busybox "
              "httpd serving its page on port 80, enough to keep the scenarios' pods running and Ready (labelled "
              f"{LABEL}={VALUE}). Load them with `sandbox up --cluster kind --load-image IMAGE`.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
