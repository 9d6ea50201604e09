"""The library API: one spec, one workspace, one state; validate, plan, apply and drift return values.

    from reconciler import Session, Selection

    session = Session("site/", workspace="staging")
    plan = session.plan()
    for change in plan.actionable:
        print(change.action.value, change.address)
    outcome = session.apply(approve=lambda plan: True)
    print(outcome.failed, [r.address for r in outcome.results])

The CLI, the benchmarks and the tests drive the engine through this class only. Output stays outside:
pass `hooks` to see changes start and finish, and `approve` to look at the plan before anything changes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from reconciler.engine.apply import ApplyHooks
from reconciler.engine.apply_run import ApplyRun
from reconciler.engine.drift_run import drift_run
from reconciler.engine.outcomes import ApplyOutcome, DriftOutcome
from reconciler.engine.plan import make_plan
from reconciler.engine.policy_gate import judged, policy_paths, terraform_form
from reconciler.engine.spec_secrets import learn_secrets
from reconciler.engine.stack_state import declared_stack_name, state_settings
from reconciler.engine.text_diffs import content_diffs
from reconciler.engine.workspaces import selected_workspace
from reconciler.errors import ReconcileError
from reconciler.inventory import Host, Inventory
from reconciler.model import Plan, Selection, StackId, workspace_problem
from reconciler.registry import Registry
from reconciler.secrets import Redactor
from reconciler.spec.load import load_spec
from reconciler.spec.validate import Validated, validate
from reconciler.spec.variables import Variables, VarOverrides, command_line_values, files_read, layered
from reconciler.state.backend import StateBackend, make_backend
from reconciler.state.interface import StateStore
from reconciler.targets import TargetPool

T = TypeVar("T")


log = logging.getLogger(__name__)


EVERYTHING = Selection()


@dataclass
class Session:
    """A spec at `spec_path` in a workspace, with its state. Cheap to create; validates on first use."""

    spec_path: str | Path
    workspace: str | None = None
    state_path: str | Path | None = None
    parallelism: int = 10
    backend_config: Mapping[str, Any] = field(default_factory=dict)  # --backend-config KEY=VALUE
    registry: Registry | None = None
    environ: Mapping[str, str] | None = None
    redactor: Redactor = field(default_factory=Redactor)
    observe_progress: Callable[[str, int, int], None] | None = None  # (target, done, total) while observing
    var_overrides: VarOverrides | None = None  # --var-file and --var
    scheduler: str | None = None  # a Dask scheduler's address: apply carries changes out on its workers
    diff_context: int = 3  # lines of context around each change of a content diff in plans
    policies: tuple[str, ...] = ()  # --policy DIR: Rego policies besides the spec's `policy:`
    stand_ins: Mapping[str, Host] = field(default_factory=dict)  # `reconcile test`: inventory hosts played by containers

    def __post_init__(self) -> None:
        self.spec_path = Path(self.spec_path)
        if self.registry is None:
            self.registry = Registry.installed()
        if self.workspace is None:
            self.workspace = selected_workspace(self.spec_path)
        problem = workspace_problem(self.workspace)
        if problem:
            raise ReconcileError(problem)
        self._validated: Validated | None = None
        self._backend: StateBackend | None = None
        self._facts: dict[str, dict[str, Any]] | None = None  # host facts, read once per session (run)
        self._members: dict[str, Any] | None = None  # dynamic group -> GroupMembers, looked up once per run
        self._cluster: Any = None  # the Dask client of an apply with a scheduler

    # -- the spec --------------------------------------------------------------------------------
    def validate(self, *, unset_env_ok: bool = False) -> Validated:
        """The spec and its graph; raises SpecError with every problem found. Contacts nothing."""
        if unset_env_ok:
            return validate(self.spec_path, self._registry, self.environ, unset_env_ok=True, workspace=self.ws,
                            overrides=self.var_overrides)
        if self._validated is None:
            self._validated = validate(self.spec_path, self._registry, self.environ, workspace=self.ws,
                                       overrides=self.var_overrides)
            self._learn_secrets(self._validated)
        return self._validated

    def _learn_secrets(self, validated: Validated) -> None:
        learn_secrets(self.redactor, validated.spec, self._registry, os.environ if self.environ is None else self.environ)

    @property
    def _registry(self) -> Registry:
        assert self.registry is not None
        return self.registry

    def variables(self, spec_vars: Mapping[str, Any] | None = None) -> Variables:
        """The spec's variables after vars/WORKSPACE.yaml, --var-file and --var, with where each came from."""
        if spec_vars is None:
            raw = load_spec(self.spec_path).data.get("vars")
            spec_vars = raw if isinstance(raw, dict) else {}
        return layered(spec_vars, Path(self.spec_path), self.ws, self.var_overrides)

    def spec_reads(self) -> set[str]:
        """Every file (and tree) this run reads to build the spec: its own files, the inventory, templates, copy
        sources, components and variable files. An output is never written over one of them."""
        spec = self.validate(unset_env_ok=True).spec
        reads = set(spec.document.files) | set(spec.reads)
        inventory = spec.document.data.get("inventory")
        if isinstance(inventory, str):
            reads.add(str(Path(spec.document.base_dir) / os.path.expanduser(inventory)))
        reads |= {str(p) for p in files_read(Path(self.spec_path), self.ws, self.var_overrides)}
        return {os.path.realpath(p) for p in reads}

    def command_line_variables(self) -> dict[str, Any]:
        """The variables --var-file and --var set (what a saved plan keeps to be applied on its own)."""
        return command_line_values(self.var_overrides)

    @property
    def type_registry(self) -> Registry:
        """The resource types and target families this session uses."""
        return self._registry

    @property
    def ws(self) -> str:
        return str(self.workspace)

    # -- the state -------------------------------------------------------------------------------
    @property
    def backend(self) -> StateBackend:
        """Where this stack's state lives in this workspace: `state:` of the spec, then --backend-config (both
        templated with the workspace); see reconciler.state.backend for how stacks and workspaces stay apart."""
        if self._backend is None:
            named, stack = self.stack_name()
            self._backend = make_backend(
                self._state_settings(self.ws), self.spec_path, self.ws, self.state_path, stack=stack,
                one_stack_directory=not named and Path(self.spec_path).is_dir(), settings_of=self._state_settings)
        return self._backend

    def stack_name(self) -> tuple[bool, str]:
        """(whether the spec has a `name:`, the stack's name), read without validating the whole spec."""
        if self._validated is not None:
            return self._validated.spec.named, self._validated.spec.stack.name
        return declared_stack_name(self.spec_path)

    def _state_settings(self, workspace: str) -> dict[str, Any]:
        return state_settings(self.spec_path, self.backend_config, self.environ, self.variables, workspace)

    @property
    def state_file(self) -> Path:
        """The local state file (local backend); for S3, where it would be without `state:`."""
        path = self.backend.local_path
        if path is None:
            from reconciler.state.backend import default_state_path

            named, stack = self.stack_name()
            return default_state_path(self.spec_path, self.ws, stack, not named and Path(self.spec_path).is_dir())
        return Path(path)

    def check_owner(self, store: StateStore) -> None:
        """A state belongs to one stack and one workspace: another's is never read, pruned or written."""
        recorded = store.stack
        named, name = self.stack_name()
        if recorded is None or not named:
            return
        if recorded != StackId(name, self.ws):
            raise ReconcileError(
                f"the state {self.backend.location} belongs to stack {recorded}, not {name}/{self.ws}: two stacks or "
                "workspaces never share a state. Give this one a state of its own (another `state.path` or S3 "
                "`key:`, or {{ workspace }} in it); if the stack was renamed, move its state with `reconcile state "
                "pull`, edit its \"stack\", then `reconcile state push --force`")

    @contextmanager
    def state(self, *, writable: bool = False, lock: str | None = None) -> Iterator[StateStore]:
        """The state, read-only (a missing one reads as empty) or writable; `lock` takes the apply lock
        for the named operation while it is open."""
        if lock:
            with self.backend.lock(lock), self.backend.open(writable=True) as store:
                self.check_owner(store)
                yield store
        else:
            with self.backend.open(writable=writable) as store:
                self.check_owner(store)
                yield store

    @contextmanager
    def targets(self) -> Iterator[TargetPool]:
        with TargetPool(self.validate().spec, self._registry_factories(), self.parallelism) as pool:
            yield pool

    def _registry_factories(self) -> dict[str, Any]:
        factories = self._registry.target_factories()
        hosts = self._registry.host_family()
        if self.stand_ins and hosts in factories:
            factories[hosts] = self._with_stand_ins(factories[hosts])
        return factories

    def _with_stand_ins(self, real: Any) -> Any:
        """The server factory, with the hosts `stand_ins` names reached in their containers instead."""
        def server(spec: Any, name: str, *budget: Any) -> Any:
            host = self.stand_ins.get(name)
            if host is None:
                return real(spec, name, *budget)
            from reconciler.targets.docker_exec import DockerExecTarget

            return DockerExecTarget(host)
        return server

    # -- plan, apply, drift ------------------------------------------------------------------------
    def plan(self, selection: Selection = EVERYTHING) -> Plan:
        """What apply would do. Read-only: takes no lock, writes nothing."""
        validated = self.validate()
        with self.state() as store, self.targets() as pool:
            validated = self.with_facts(self.with_members(validated, pool), pool, selection)
            return self.make_plan(validated, pool, store, selection)

    def with_members(self, validated: Validated, pool: TargetPool, *, fresh: bool = False) -> Validated:
        """The spec rebuilt with the hosts of its dynamic inventory groups (`from:`), looked up once per run
        (`fresh`: again, after an apply made instances). The pool's later targets see the new hosts."""
        spec = validated.spec
        if not spec.inventory.dynamic or (spec.inventory.resolved and not fresh):
            return validated
        from reconciler.engine.members import find_members

        self._members = self.redacting(lambda: find_members(spec, self._registry, pool))
        rebuilt = validate(self.spec_path, self._registry, self.environ, workspace=self.ws,
                           overrides=self.var_overrides, facts=self._facts, members=self._members)
        self._learn_secrets(rebuilt)
        self._validated = rebuilt
        pool.respec(rebuilt.spec)
        return rebuilt

    def inventory(self) -> Inventory:
        """The inventory, with the hosts of dynamic groups looked up (read-only: only their sources are asked;
        no host is contacted)."""
        validated = self.validate()
        if not validated.spec.inventory.dynamic:
            return validated.spec.inventory
        with self.targets() as pool:
            return self.with_members(validated, pool).spec.inventory

    def with_facts(self, validated: Validated, pool: TargetPool, selection: Selection = EVERYTHING) -> Validated:
        """The spec rebuilt with its hosts' facts, when its templates read `host.facts`: each host is asked
        once per session, over the pool's connection (which observation then reuses). Hosts left out by
        `--limit` are not asked."""
        spec = validated.spec
        if not spec.fact_targets or spec.facts_known:
            return validated
        wanted = set(spec.fact_targets) - spec.inventory.pending_hosts()  # stand-ins keep stand-in facts
        if selection.limit:
            chosen = {h for name in selection.limit for h in (spec.inventory.expand(name) or (name,))}
            wanted &= chosen
        if self._facts is None or not wanted <= set(self._facts):
            from reconciler.targets.facts import gather_facts

            asked = sorted(wanted - set(self._facts or {}))
            hosts = self._registry.host_family()
            if hosts is None:
                raise ReconcileError("the spec reads host.facts, but no installed target family reaches hosts")
            facts, failed = gather_facts({t: (lambda t=t: pool.get(hosts, t)) for t in asked}, self.parallelism)
            if failed:
                raise ReconcileError("the spec reads host.facts, but they could not be gathered from "
                                     + "; ".join(f"{h}: {self.redactor.redact(why)}" for h, why in sorted(failed.items()))
                                     + " (nothing was planned; --limit leaves a host out)")
            self._facts = {**(self._facts or {}), **facts}
        rebuilt = validate(self.spec_path, self._registry, self.environ, workspace=self.ws,
                           overrides=self.var_overrides, facts=self._facts, members=self._members)
        self._learn_secrets(rebuilt)
        self._validated = rebuilt  # what later reports of this session (graph pictures, pages) show
        pool.respec(rebuilt.spec)
        return rebuilt

    def make_plan(self, validated: Validated, pool: TargetPool, store: StateStore, selection: Selection) -> Plan:
        plan = self.redacting(lambda: make_plan(validated.spec, validated.graph, self._registry, pool, store,
                                                selection, self.parallelism, self.redactor, self.observe_progress))
        plan = dataclasses.replace(plan, texts=self._content_diffs(plan, pool)) if plan.actionable else plan
        return self._judged(validated, plan)

    def policy_paths(self, validated: Validated | None = None) -> list[Path]:
        """The spec's `policy:` paths (relative to its file) and the --policy ones, in that order."""
        return policy_paths(validated or self.validate(), self.policies)

    def terraform_plan(self, plan: Plan, addresses: dict[str, str] | None = None) -> dict[str, Any]:
        """The plan in Terraform's plan-JSON shape (what policies and scanners read); `addresses` is filled
        with each Terraform address's reconcile address."""
        return terraform_form(plan, self.validate().spec.document, self._registry, addresses)

    def _judged(self, validated: Validated, plan: Plan) -> Plan:
        return judged(plan, self.policy_paths(validated), validated.spec.document, self._registry)

    def _content_diffs(self, plan: Plan, pool: TargetPool) -> dict[str, str]:
        return content_diffs(plan, pool, self._registry, self.parallelism, self.diff_context, self.redactor)

    def apply(
        self, selection: Selection = EVERYTHING, *, approve: Callable[[Plan], bool] = lambda plan: True,
        hooks: ApplyHooks | None = None, saved: Mapping[str, Any] | None = None,
        only_drifted: bool = False, on_plan: Callable[[Plan], None] = lambda plan: None,
    ) -> ApplyOutcome:
        """Lock, plan again (a `saved` plan must still be fresh), ask `approve`, apply, record the run.

        A state that does not exist yet is created only once there is something to apply: a spec whose
        plan fails leaves nothing behind."""
        validated = self.validate()
        self._cluster = None
        if self.scheduler:  # reached (and checked) before anything is locked, planned or applied
            from reconciler.engine.distributed import connect

            self._cluster = connect(self.scheduler)
        try:
            return ApplyRun(self, validated, hooks, self._cluster).run(selection, approve, saved, only_drifted, on_plan)
        finally:
            if self._cluster is not None:
                self._cluster.close()

    def text_diffs(self, plan: Plan, addresses: Sequence[str] | None = None) -> dict[str, str]:
        """For reports: the content diffs of the plan (of `addresses` only, when given)."""
        wanted = set(addresses) if addresses is not None else None
        return {a: t for a, t in plan.texts.items() if wanted is None or a in wanted}

    def drift(self, *, limit: Sequence[str] = (), since: int | None = None, record: bool = True,
              report_body: Callable[[Any, int | None], Mapping[str, Any]] | None = None,
              targets: Sequence[str] = ()) -> DriftOutcome:
        """Drift classes (drifted/pending/missing/unmanaged); read-only apart from the history entry.
        `targets`: only these addresses (and what they depend on) are observed (`watch`'s own cadences)."""
        return drift_run(self, limit=limit, since=since, record=record, report_body=report_body, targets=targets)

    # -- secrets ---------------------------------------------------------------------------------
    def redacting(self, work: Callable[[], T]) -> T:
        """Run `work`; an error it raises reaches the caller with every secret of the run masked."""
        try:
            return work()
        except ReconcileError as exc:
            masked = self.redactor.redact(str(exc))
            if masked != str(exc):
                raise type(exc)(masked) if type(exc).__init__ is ReconcileError.__init__ else ReconcileError(
                    masked) from None
            raise
