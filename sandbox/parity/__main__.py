"""``python -m sandbox.parity``: run the built-in scenarios and the parity cases against both reconcilers and write
the report (JSON and the docs page). ``nox -s parity`` runs it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sandbox.errors import SandboxError
from sandbox.parity import report
from sandbox.parity.explanations import EXPLANATIONS
from sandbox.parity.run import run, scenario_files
from sandbox.scenario.catalog import BUILTIN
from sandbox.scenario.loader import load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.parity", description=__doc__)
    parser.add_argument("--scenarios", type=Path, nargs="*", default=[BUILTIN, Path("tests/parity")],
                        help="folders of scenario folders (default: the built-in scenarios and tests/parity)")
    parser.add_argument("--only", nargs="*", default=[], help="run only these scenarios (by name)")
    parser.add_argument("--json", type=Path, default=Path("parity-results/parity.json"))
    parser.add_argument("--markdown", type=Path, default=Path("docs/parity.md"))
    parser.add_argument("--from-json", action="store_true",
                        help="run nothing: write the page again from the JSON of the last run, with the explanations "
                             "as they are now (after adding one to sandbox/parity/explanations.py)")
    args = parser.parse_args(argv)
    if args.from_json:
        try:
            meta, runs, differences = report.read(args.json)
        except (OSError, ValueError) as err:
            print(f"parity: cannot read {args.json} (run the scenarios first): {err}", file=sys.stderr)
            return 1
        report.write(args.json, args.markdown, meta, runs, differences, EXPLANATIONS)
        print(f"{len(differences)} differences; report: {args.markdown}", file=sys.stderr)
        return 0
    scenarios = [load(path) for path in scenario_files(args.scenarios)]
    if args.only:
        scenarios = [s for s in scenarios if s.name in args.only]
    try:
        meta, runs, differences = run(scenarios, lambda line: print(line, file=sys.stderr, flush=True))
    except SandboxError as err:
        print(f"parity: {err}", file=sys.stderr)
        return 1
    if args.only and args.json.exists():
        # A partial run updates the last full one: the other scenarios keep their results.
        _, last_runs, last_differences = report.read(args.json)
        runs = {**{name: runs.get(name, run_) for name, run_ in last_runs.items()}, **runs}
        differences = [d for d in last_differences if d.scenario not in args.only] + differences
    report.write(args.json, args.markdown, meta, runs, differences, EXPLANATIONS)
    print(f"{len(differences)} differences ({report.counts_line(differences)}); report: {args.markdown}, "
          f"{args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
