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

from reconciler.engine.apply import Applier, ApplyHooks, failed
from reconciler.engine.carry import Executor, LocalExecutor
from reconciler.engine.outcomes import ApplyOutcome, DriftOutcome, found_objects, makes_hosts, ran, summarize
from reconciler.engine.plan import make_plan
from reconciler.engine.policy_gate import judged, policy_paths, terraform_form
from reconciler.engine.text_diffs import content_diffs
from reconciler.engine.workspaces import selected_workspace
from reconciler.errors import ReconcileError, SpecError
from reconciler.inventory import Host, Inventory
from reconciler.model import UNKNOWN, Action, Plan, Result, Selection, StackId, Status, workspace_problem
from reconciler.registry import Registry
from reconciler.secrets import Redactor
from reconciler.spec.load import load_spec
from reconciler.spec.render import Renderer, TemplateFailure
from reconciler.spec.validate import Validated, validate
from reconciler.spec.variables import Variables, VarOverrides, command_line_values, files_read, layered
from reconciler.state.backend import StateBackend, make_backend
from reconciler.state.interface import StateStore
from reconciler.state.planfile import check_fresh
from reconciler.targets import TargetPool
from reconciler.words import plural

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
        """The secret values the spec itself holds, and every environment value used inside one (a password
        in a command line is masked on its own too, e.g. when the command echoes it)."""
        environ = os.environ if self.environ is None else self.environ
        names = validated.spec.document.data.get("vars_from_env")
        env_values = [environ[n] for n in names if isinstance(n, str) and n in environ] if isinstance(names, list) else []
        for r in validated.spec.resources:
            for name in self._registry.module(r.type).secret_attributes(r):
                value = r.attributes.get(name)
                self.redactor.add(value)
                text = str(value) if value is not None else ""
                for env_value in env_values:
                    if len(env_value) >= 3 and env_value in text:
                        self.redactor.add(env_value)

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
        from reconciler.spec.build_state import default_stack_name

        try:
            name = load_spec(self.spec_path).data.get("name")
        except SpecError:
            name = None
        if isinstance(name, str) and name:
            return True, name
        return False, default_stack_name(str(Path(self.spec_path).absolute()))

    def _state_settings(self, workspace: str) -> dict[str, Any]:
        """The spec's `state:` block and the --backend-config values, rendered for `workspace`; read without
        validating the whole spec, so that the state commands work on a spec that does not validate (or misses
        its secrets)."""
        block: Any = {}
        document = None
        try:
            document = load_spec(self.spec_path)
            block = document.data.get("state")
        except SpecError:
            pass
        settings = {**(block if isinstance(block, dict) else {}), **self.backend_config}
        if not settings:
            return {}
        environ = os.environ if self.environ is None else self.environ
        names = document.data.get("vars_from_env") if document is not None else None
        env = {n: environ.get(n, "") for n in names if isinstance(n, str)} if isinstance(names, list) else {}
        raw_vars = document.data.get("vars") if document is not None else None
        variables = dict(self.variables(raw_vars if isinstance(raw_vars, dict) else {}).values)
        try:
            rendered = Renderer().render(settings, {**variables, "vars": variables, "env": env, "workspace": workspace})
        except TemplateFailure as exc:
            raise ReconcileError(f"template error in state (or --backend-config): {exc}") from None
        return dict(rendered) if isinstance(rendered, dict) else {}

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
            return self._make_plan(validated, pool, store, selection)

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

    def _make_plan(self, validated: Validated, pool: TargetPool, store: StateStore, selection: Selection) -> Plan:
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
            return self._apply(validated, selection, approve, hooks, saved, only_drifted, on_plan)
        finally:
            if self._cluster is not None:
                self._cluster.close()

    def _apply(self, validated: Validated, selection: Selection, approve: Callable[[Plan], bool],
               hooks: ApplyHooks | None, saved: Mapping[str, Any] | None, only_drifted: bool,
               on_plan: Callable[[Plan], None]) -> ApplyOutcome:
        backend = self.backend
        selection = dataclasses.replace(selection, full_refresh=True)  # apply acts on what it reads now
        with backend.lock("apply"), self.targets() as pool:
            validated = self.with_facts(self.with_members(validated, pool), pool, selection)
            new = backend.creates_on_open and not backend.exists()
            with backend.open(writable=not new) as store:
                self.check_owner(store)
                plan = self._make_plan(validated, pool, store, selection)
                if saved is not None:
                    check_fresh(saved, plan)
                if only_drifted:
                    plan = self._only_drifted(plan, store)
                on_plan(plan)
                if plan.blockers:
                    raise ReconcileError("the plan cannot be applied: " + "; ".join(plan.blockers))
                if not new:  # nothing to change: the state still learns the spec's current values
                    if not plan.actionable:
                        return self._record_only(validated, plan, pool, store, hooks)
                    if not approve(plan):
                        raise ReconcileError("apply cancelled")
                    return self._carry_out(validated, plan, pool, store, hooks, selection)
            # a new state (or a lost one): made when there is something to record, found objects included, so that
            # ownership survives a no-change apply
            if not plan.actionable and not (validated.spec.outputs or found_objects(plan)):
                return ApplyOutcome(plan, (), None, applied=False)
            if plan.actionable and not approve(plan):
                raise ReconcileError("apply cancelled")
            with backend.open(writable=True) as store:
                self.check_owner(store)
                if not plan.actionable:
                    store.set_stack(validated.spec.stack)
                    return self._record_only(validated, plan, pool, store, hooks)
                return self._carry_out(validated, plan, pool, store, hooks, selection)

    def _record_only(self, validated: Validated, plan: Plan, pool: TargetPool, store: StateStore,
                     hooks: ApplyHooks | None) -> ApplyOutcome:
        """A plan with nothing to change: the state records what was observed (values, found objects)."""
        applier = Applier(validated.graph, self._registry, pool, store, self.parallelism, hooks, self.redactor,
                          validated.spec.data)
        results = self.redacting(lambda: applier.apply(plan))
        outputs = self._record_outputs(validated, applier, store)
        return ApplyOutcome(plan, tuple(results), None, applied=False, outputs=outputs)

    def _carry_out(self, validated: Validated, plan: Plan, pool: TargetPool, store: StateStore,
                   hooks: ApplyHooks | None, selection: Selection = EVERYTHING) -> ApplyOutcome:
        store.set_stack(validated.spec.stack)
        executor = self._executor(validated, plan, pool)
        applier = Applier(validated.graph, self._registry, pool, store, self.parallelism, hooks, self.redactor,
                          validated.spec.data, executor, validated.spec.inventory.rollouts)
        run_id = store.start_run("apply", str(Path(self.spec_path).absolute()))
        results: list[Result] = []
        status = "interrupted"  # what the history says if this process is stopped on the way
        now = dataclasses.replace(plan, changes=tuple(c for c in plan.changes if not c.deferred))
        try:
            results = self.redacting(lambda: applier.apply(now))
            if not failed(results) and makes_hosts(validated.spec, plan, results):
                results += self._configure_new_hosts(validated, pool, store, hooks, selection)
            status = "failed" if failed(results) or plan.failures else "ok"
        finally:
            executor.close()
            store.finish_run(run_id, status, summarize(results, ran(plan)) | {
                "resources": {r.address: r.status.value for r in results if r.status is not Status.NOOP}})
        outputs = self._record_outputs(validated, applier, store)
        return ApplyOutcome(plan, tuple(results), run_id, applied=True, outputs=outputs)

    def _configure_new_hosts(self, validated: Validated, pool: TargetPool, store: StateStore, hooks: ApplyHooks | None,
                             selection: Selection) -> list[Result]:
        """The second half of an apply that made instances of a dynamic group: look the group up again, wait
        for the new hosts to answer SSH, then plan and apply the resources on them (and on them only)."""
        from reconciler.engine.members import new_hosts, wait_for_hosts

        note = hooks.note if hooks is not None else (lambda message: log.info("%s", message))
        rebuilt = self.with_members(validated, pool, fresh=True)
        hosts = new_hosts(validated.spec, rebuilt.spec)
        if not hosts:
            return []
        unreachable = wait_for_hosts(rebuilt.spec, hosts, note, self.parallelism)
        results = [Result(r.address, Action.CREATE, Status.FAILED, error=f"host {r.host} never answered SSH: "
                          f"{unreachable[r.host or '']}") for r in rebuilt.spec.resources if r.host in unreachable]
        ready = [h for h in hosts if h not in unreachable]
        on_them = [h for h in ready if any(r.host == h for r in rebuilt.spec.resources)]
        if not on_them:
            return results
        note(f"configuring {plural(len(on_them), 'new host')}: {', '.join(on_them)}")
        limited = dataclasses.replace(selection, limit=tuple(on_them))
        rebuilt = self.with_facts(rebuilt, pool, limited)
        plan = self._make_plan(rebuilt, pool, store, limited)
        if plan.blockers:
            raise ReconcileError("the plan for the new hosts cannot be applied: " + "; ".join(plan.blockers))
        applier = Applier(rebuilt.graph, self._registry, pool, store, self.parallelism, hooks, self.redactor,
                          rebuilt.spec.data, LocalExecutor(self._registry, pool), rebuilt.spec.inventory.rollouts)
        done = self.redacting(lambda: applier.apply(plan))
        failures = [Result(a, Action.CREATE, Status.FAILED, error=why) for a, why in plan.failures.items()]
        return results + list(done) + failures

    def _executor(self, validated: Validated, plan: Plan, pool: TargetPool) -> Executor:
        """Where this apply's changes are carried out: here, or on the Dask cluster asked for."""
        local = LocalExecutor(self._registry, pool)
        if self._cluster is None:
            return local
        from reconciler.engine.distributed import DaskExecutor

        targets = [(self._registry.module_class(c.type).family, c.resource.target) for c in plan.changes
                   if c.resource is not None]
        return DaskExecutor(self._cluster, validated.spec, self._registry, local, targets, self.parallelism)

    def _record_outputs(self, validated: Validated, applier: Applier, store: StateStore) -> tuple[Any, ...]:
        """The outputs as applied, kept in the state for `reconcile output` (sensitive ones never)."""
        from reconciler.engine.outputs import resolve_outputs

        outputs = resolve_outputs(validated.spec.outputs, validated.graph, self._registry, applier.known,
                                  applier.secrets, validated.spec.data)
        for o in outputs:
            if o.sensitive and o.value not in (None, UNKNOWN):
                self.redactor.add(str(o.value))
        store.set_outputs({o.name: o.stored() for o in outputs if o.value is not UNKNOWN})
        return outputs

    def text_diffs(self, plan: Plan, addresses: Sequence[str] | None = None) -> dict[str, str]:
        """For reports: the content diffs of the plan (of `addresses` only, when given)."""
        wanted = set(addresses) if addresses is not None else None
        return {a: t for a, t in plan.texts.items() if wanted is None or a in wanted}

    def _only_drifted(self, plan: Plan, store: StateStore) -> Plan:
        """The plan with every change that is not a repair of drift (or of a missing resource) left out
        altogether (not turned into no-ops: the state must not record values that were never applied)."""
        from reconciler.engine.diff import change_for
        from reconciler.engine.drift import classify
        from reconciler.engine.triggers import cause_of, react

        drifted = {i.address for i in classify(plan, store.records(), self._registry).items
                   if i.kind in ("drifted", "missing")}
        kept = [c for c in plan.changes if c.address in drifted or (c.action is Action.NOOP and not c.pruned)]
        changing = {c.address for c in kept if c.action is not Action.NOOP}
        out = []
        for c in kept:  # a handler runs only for a trigger this run carries out (a pending one stays pending)
            if c.triggered_by and c.resource is not None and not any(cause_of(t) in changing and cause_of(t) == t
                                                                      for t in c.triggered_by):
                module = self._registry.module(c.type)
                c = dataclasses.replace(react(module, change_for(module, c.resource, c.observed), []), where=c.where)
                if c.action is Action.NOOP:
                    continue
            out.append(c)
        return dataclasses.replace(plan, changes=tuple(out))

    def drift(self, *, limit: Sequence[str] = (), since: int | None = None, record: bool = True,
              report_body: Callable[[Any, int | None], Mapping[str, Any]] | None = None,
              targets: Sequence[str] = ()) -> DriftOutcome:
        """Drift classes (drifted/pending/missing/unmanaged); read-only apart from the history entry.
        `targets`: only these addresses (and what they depend on) are observed (`watch`'s own cadences)."""
        from reconciler.engine.drift import classify, discover_unmanaged, new_since

        validated = self.validate()
        writable = record and (not self.backend.creates_on_open or self.backend.exists())
        with self.state(writable=writable) as store, self.targets() as pool:
            everything = Selection(targets=tuple(targets), limit=tuple(limit), full_refresh=True)  # read in full
            validated = self.with_facts(self.with_members(validated, pool), pool, everything)
            plan = self._make_plan(validated, pool, store, everything)
            records = store.records()
            in_use = {(r.type, r.target) for r in validated.spec.resources} | {
                (r.type, r.target) for r in records.values()}
            unmanaged, discovery_errors = discover_unmanaged(
                [(t, n) for t, n in in_use if t in self._registry], self._registry, pool)
            found = classify(plan, records, self._registry, unmanaged)
            if discovery_errors:
                found = dataclasses.replace(found, errors={**found.errors, **discovery_errors})
            if since is not None:
                earlier = next((r for r in store.runs(kind="drift", limit=100000) if r.id == since), None)
                if earlier is None:
                    raise ReconcileError(f"no drift run #{since} in the history (see `reconcile history --drift`)")
                found = new_since(found, earlier.summary.get("report", {}))
            run_id = None
            if writable:
                run_id = store.start_run("drift", str(Path(self.spec_path).absolute()))
                body = report_body(found, run_id) if report_body else {}
                store.finish_run(run_id, "drift" if found.found else ("error" if found.errors else "ok"),
                                 {**found.counts(), "errors": len(found.errors), "report": body})
            history = tuple({"run": r.id, "started_at": r.started_at,
                             "total": sum(int(r.summary.get(k) or 0) for k in found.counts())}
                            for r in reversed(store.runs(kind="drift", limit=30)) if r.status != "running")
            return DriftOutcome(found, run_id, plan, history)

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
