"""``python -m sandbox.parity``: run the built-in scenarios and the parity cases against both reconcilers and write
the report (JSON and the docs page). ``nox -s parity`` runs it; ``--cluster kind`` runs both sides' sandboxes on kind
clusters (``nox -s parity -- --cluster kind``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sandbox.errors import SandboxError
from sandbox.parity import report
from sandbox.parity.explanations import EXPLANATIONS, KIND_NOTES
from sandbox.parity.run import CLUSTERS, Target, run, scenario_files
from sandbox.scenario.catalog import BUILTIN
from sandbox.scenario.loader import load

OUTPUTS = {"embedded": (Path("parity-results/parity.json"), Path("docs/parity.md")),
           "kind": (Path("parity-results/parity-kind.json"), Path("docs/parity-kind.md"))}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox.parity", description=__doc__)
    parser.add_argument("--scenarios", type=Path, nargs="*", default=[BUILTIN, Path("tests/parity")],
                        help="folders of scenario folders (default: the built-in scenarios and tests/parity)")
    parser.add_argument("--only", nargs="*", default=[], help="run only these scenarios (by name)")
    parser.add_argument("--cluster", choices=CLUSTERS, default="embedded",
                        help="the cluster both sides' sandboxes run on (default: embedded). kind: a kind cluster per "
                             "side, one at a time (docs/kind.md), the report in parity-kind.json / parity-kind.md")
    parser.add_argument("--load-image", dest="load_images", action="append", default=None, metavar="IMAGE",
                        help="with --cluster kind (repeatable): a local Docker image to load into the nodes "
                             "(default: every image the scenarios run that the local engine has, real or a "
                             "stand-in from `python -m sandbox.kindnode.standins`)")
    parser.add_argument("--json", type=Path, default=None, help="default: parity-results/parity[-kind].json")
    parser.add_argument("--markdown", type=Path, default=None, help="default: docs/parity[-kind].md")
    parser.add_argument("--from-json", action="store_true",
                        help="run nothing: write the page again from the JSON of the last run, with the explanations "
                             "as they are now (after adding one to sandbox/parity/explanations.py)")
    args = parser.parse_args(argv)
    if args.load_images and args.cluster != "kind":
        parser.error("--load-image needs --cluster kind: the embedded cluster's simulated nodes run no image")
    default_json, default_markdown = OUTPUTS[args.cluster]
    args.json = args.json or default_json
    args.markdown = args.markdown or default_markdown
    return args


def target_of(args: argparse.Namespace) -> Target:
    """The cluster to run on; on kind without --load-image, the scenarios' images the local engine has."""
    if args.cluster != "kind":
        return Target()
    images = args.load_images
    if images is None:
        from sandbox.kindnode import standins

        images = standins.present(standins.scenario_images([root for root in args.scenarios if root.is_dir()]))
    return Target("kind", tuple(images))


def notes_for(meta: dict[str, Any]) -> dict[str, str]:
    return KIND_NOTES if meta.get("cluster") == "kind" else {}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.from_json:
        try:
            meta, runs, differences = report.read(args.json)
        except (OSError, ValueError) as err:
            print(f"parity: cannot read {args.json} (run the scenarios first): {err}", file=sys.stderr)
            return 1
        report.write(args.json, args.markdown, meta, runs, differences, EXPLANATIONS, notes_for(meta))
        print(f"{len(differences)} differences; report: {args.markdown}", file=sys.stderr)
        return 0
    scenarios = [load(path) for path in scenario_files(args.scenarios)]
    if args.only:
        scenarios = [s for s in scenarios if s.name in args.only]
    try:
        target = target_of(args)
        if target.load_images:
            print(f"parity: loading into the kind nodes: {', '.join(target.load_images)}", file=sys.stderr)
        meta, runs, differences = run(scenarios, lambda line: print(line, file=sys.stderr, flush=True), target=target)
    except SandboxError as err:
        print(f"parity: {err}", file=sys.stderr)
        return 1
    if args.only and args.json.exists():
        # A partial run updates the last full one: the other scenarios keep their results.
        _, last_runs, last_differences = report.read(args.json)
        runs = {**{name: runs.get(name, run_) for name, run_ in last_runs.items()}, **runs}
        differences = [d for d in last_differences if d.scenario not in args.only] + differences
        meta = {**meta, "scenarios": list(runs), "rerun": list(args.only)}
    report.write(args.json, args.markdown, meta, runs, differences, EXPLANATIONS, notes_for(meta))
    print(f"{len(differences)} differences ({report.counts_line(differences)}); report: {args.markdown}, "
          f"{args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
