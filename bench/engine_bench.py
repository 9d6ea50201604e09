"""Engine benchmark: specs of N local resources on a random DAG; load+validate, graph and plan timed apart.

Run with `make bench` (or `python bench/engine_bench.py 1000 10000`). Target: validate + plan of
10,000 resources under 3 s on 2 cores, and 10x the resources costing at most 12x the time.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.cli.main import tune_gc  # noqa: E402
from reconciler.engine.plan import make_plan  # noqa: E402
from reconciler.registry import Registry  # noqa: E402
from reconciler.spec.build import build_spec  # noqa: E402
from reconciler.spec.graph import build_graph  # noqa: E402
from reconciler.spec.load import load_spec  # noqa: E402
from reconciler.state.store import SqliteStateStore  # noqa: E402
from reconciler.targets import TargetPool  # noqa: E402


def generate(n: int, out: Path, seed: int = 7) -> str:
    """N resources: files (some templated, some referencing a directory), directories; random depends_on."""
    rng = random.Random(seed)
    lines = ["vars:", f"  root: {json.dumps(str(out))}", "  version: '1.0'", "resources:"]
    dirs = []
    for i in range(n):
        if i % 10 == 0:
            lines += ["  - type: directory", f"    name: d{i}", f"    path: \"{{{{ root }}}}/d{i}\"", "    mode: '0755'"]
            dirs.append(i)
            continue
        lines += ["  - type: file", f"    name: f{i}"]
        if dirs and i % 3 == 0:
            lines.append(f"    path: \"${{directory.d{rng.choice(dirs)}.path}}/f{i}\"")
        else:
            lines.append(f"    path: \"{{{{ root }}}}/f{i}\"")
        lines.append(f"    content: \"file {i} version {{{{ version }}}}\\n\"")
        lines.append("    mode: '0644'")
        if i > 1 and rng.random() < 0.5:
            deps = {rng.randrange(1, i) for _ in range(rng.randint(1, 3))} - set(dirs)
            if deps:
                lines.append("    depends_on: [" + ", ".join(f"file.f{d}" for d in sorted(deps)) + "]")
    return "\n".join(lines) + "\n"


def generate_loops(n: int, out: Path) -> str:
    """The same number of resources written as a few entries that expand: for_each over N/10 teams
    (a directory and 8 files each, the files referencing their team's directory) and a count."""
    teams = n // 10
    lines = ["vars:", f"  root: {json.dumps(str(out))}", f"  teams: [{', '.join(f't{i}' for i in range(teams))}]",
             "resources:",
             "  - {type: directory, name: team, for_each: '{{ teams }}', path: '{{ root }}/{{ each.key }}', mode: '0755'}"]
    for j in range(8):
        lines.append(f"  - {{type: file, name: f{j}, for_each: '{{{{ teams }}}}', "
                     f"path: '${{directory.team[{{{{ each.key }}}}].path}}/f{j}', content: 'team {{{{ each.key }}}}\n'}}")
    lines.append(f"  - {{type: file, name: n, count: {n - 9 * teams}, path: '{{{{ root }}}}/n{{{{ count.index }}}}', "
                 "content: 'n {{ count.index }}\n'}")
    return "\n".join(lines) + "\n"


def generate_components(n: int, out: Path) -> str:
    """The same number of resources written as one component (a directory and 9 files per member, by
    for_each over its `members` input) used N/100 times with 10 members each; the component is written
    to components/team beside the spec."""
    component = out.parent / "components" / "team"
    component.mkdir(parents=True)
    lines = ["inputs: {root: {type: string}, members: {type: list}}", "resources:",
             "  - {type: directory, name: home, for_each: '{{ inputs.members }}', "
             "path: '{{ inputs.root }}/{{ each.key }}', mode: '0755'}"]
    for j in range(9):
        lines.append(f"  - {{type: file, name: f{j}, for_each: '{{{{ inputs.members }}}}', "
                     f"path: '${{directory.home[{{{{ each.key }}}}].path}}/f{j}', content: 'member {{{{ each.key }}}}\n'}}")
    (component / "main.yaml").write_text("\n".join(lines) + "\n")
    uses = ["components:"]
    for i in range(n // 100):
        uses.append(f"  - {{name: t{i}, use: ./components/team, with: {{root: '{out}/t{i}', "
                    f"members: [{', '.join(f'm{k}' for k in range(10))}]}}}}")
    return "\n".join(uses) + "\n"


GENERATORS = {"one entry each": generate, "for_each/count": generate_loops, "components": generate_components}


def measure(n: int, written_as: str = "one entry each") -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        spec_file = Path(tmp) / "spec.yaml"
        spec_file.write_text(GENERATORS[written_as](n, Path(tmp) / "out"))
        registry = Registry.builtin()
        t0 = time.perf_counter()
        doc = load_spec(spec_file)
        spec, diags = build_spec(doc, registry)
        t1 = time.perf_counter()
        graph, gdiags = build_graph(spec.resources, registry, spec.document)
        t2 = time.perf_counter()
        assert not diags and not gdiags, (diags + gdiags)[:3]
        with SqliteStateStore.open_readonly(Path(tmp) / "state.db") as store, TargetPool(spec, registry.target_factories()) as targets:
            plan = make_plan(spec, graph, registry, targets, store)
        t3 = time.perf_counter()
        assert plan.counts()["add"] == n
        return {"resources": n, "load_validate_s": t1 - t0, "graph_s": t2 - t1, "plan_s": t3 - t2,
                "total_s": t3 - t0, "written_as": written_as}


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 10000]
    tune_gc()  # as the `reconcile` command does
    rows = [measure(n) for n in sizes]
    expanded = [measure(sizes[-1], "for_each/count"),  # 10 entries with for_each and count
                measure(sizes[-1], "components")]  # a component used N/100 times, for_each inside it
    print(f"{'resources':>10} {'written as':>14} {'load+validate':>14} {'graph':>8} {'plan':>8} {'total':>8}")
    for r in rows + expanded:
        print(f"{r['resources']:>10} {r['written_as']:>14} "
              f"{r['load_validate_s']:>13.2f}s {r['graph_s']:>7.2f}s {r['plan_s']:>7.2f}s {r['total_s']:>7.2f}s")
    if len(rows) >= 2:
        ratio = rows[-1]["total_s"] / rows[0]["total_s"]
        scale = rows[-1]["resources"] / rows[0]["resources"]
        print(f"{scale:.0f}x the resources cost {ratio:.1f}x the time (target: at most {scale * 1.2:.0f}x)")


if __name__ == "__main__":
    main()
