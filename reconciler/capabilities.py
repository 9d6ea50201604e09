"""Optional capabilities of a resource type, beside the core contract (reconciler.module.Module): a type
that has one inherits it, and the engine asks `isinstance(module, …)` instead of every type carrying
members it never uses.

- AnsibleTasks: `reconcile migrate ansible` turns Ansible tasks into this type's entries.
- TerraformForm: `reconcile migrate terraform` adopts the provider's resources as this type's, and
  `show --format terraform-json`, policies and scanners read its resources in the provider's shapes.
- BatchApply: several ready creates and updates on one target carried out at once (one apt transaction).
- Deferrable: its changes travel with the other ready changes of their host, in one exchange.
- Discovers: finds this stack's objects by their ownership marks (a lost state, drift's "unmanaged").
- FormsGroups: its objects can be an inventory group's hosts (dynamic groups).
- ShowsText: shows how a change rewrites a text (a file's content) in plans and reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from reconciler.model import Change, GroupMembers, GroupQuery, Observed
from reconciler.module import Adopted, TerraformObject


class AnsibleTasks:
    """Takes tasks of the Ansible modules it names."""

    ansible_modules: ClassVar[tuple[str, ...]] = ()  # Ansible modules whose tasks this type may take
    # its step in a host's set-up, which says what must come before it in a converted playbook: source (a
    # package source), software, group, account, owned (a user's: keys, crontabs), content (files, the
    # default), setting (kernel, mounts, clock), runs (a service), opaque (a command: everything around it)
    ansible_step: ClassVar[str] = "content"

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        """This type's attributes for an Ansible task of `module` with `args` (free-form text is under
        `_raw_params`), or None when the task is another type's (file with state: directory is not a
        file). Raise NotConvertible when it is this type's but cannot be expressed. `handler`: the task is
        a handler, run only when notified (the engine adds the trigger list)."""
        return None


class TerraformForm:
    """Has a counterpart among the Terraform AWS provider's resource types."""

    type_name: ClassVar[str]

    terraform_types: ClassVar[tuple[str, ...]] = ()  # Terraform resource types this type takes over
    terraform_parts: ClassVar[tuple[str, ...]] = ()  # Terraform types that configure one of its objects
    # Terraform attributes the provider derives (ids, ARNs, DNS names, defaults it fills in): never carried,
    # never reported as left out. Everything else a Terraform resource sets and from_terraform does not read
    # is listed by `reconcile migrate terraform` as not carried.
    terraform_computed: ClassVar[frozenset[str]] = frozenset()
    terraform_defaults: ClassVar[Mapping[str, Any]] = {}  # the provider's defaults: not reported when left as they are
    terraform_names: ClassVar[Mapping[str, str]] = {}  # reconcile's attribute -> the provider's, where they differ

    def to_terraform(self, attributes: Mapping[str, Any]) -> Sequence[TerraformObject]:
        """How Terraform's AWS provider would hold this resource (`show --format terraform-json`, policies,
        scanners): its first `terraform_types` with the attributes as they are; types with no Terraform
        counterpart keep reconcile's name. Types whose names or shapes differ override this, and split one
        object into the provider's resources where the provider splits it (a bucket's public access block)."""
        values = {self.terraform_names.get(k, k): v for k, v in attributes.items() if k not in ("state", "import")}
        if "tags" in values and self.terraform_types:
            values["tags_all"] = values["tags"]  # the provider's view: the resource's tags with the default ones
        return (TerraformObject(self.terraform_types[0] if self.terraform_types else self.type_name, "", values),)

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        """The spec entry for a Terraform resource of one of `terraform_types` (`values`: its attributes)."""
        raise NotImplementedError

    def terraform_part_key(self, part_type: str, values: Mapping[str, Any]) -> str | None:
        """For a resource of `terraform_parts`: the object id it configures (matched to `Adopted.object_id`)."""
        return None

    def merge_terraform_part(self, attributes: dict[str, Any], part_type: str, values: Mapping[str, Any]) -> None:
        """Fold a `terraform_parts` resource into the attributes of the object it configures; raise NotCarried
        when it cannot be folded faithfully (the attribute it belongs to is then left unmanaged)."""


def terraform_objects(module: Any, attributes: Mapping[str, Any]) -> Sequence[TerraformObject]:
    """How Terraform would hold a resource of `module`: its TerraformForm, else one object named after the
    type with the attributes as they are."""
    if isinstance(module, TerraformForm):
        return module.to_terraform(attributes)
    values = {k: v for k, v in attributes.items() if k not in ("state", "import")}
    return (TerraformObject(module.type_name, "", values),)


class BatchApply:
    """Takes every ready create and update of its type on one target at once."""

    def apply_many(self, target: Any, changes: Sequence[Change]) -> Mapping[str, Observed]:
        """Carry out several creates/updates at once; raise if any failed (the engine then retries them one
        by one, so that each failure stays its own resource's)."""
        raise NotImplementedError


class Deferrable:
    """Its apply can be written down and sent with its host's other ready changes in one exchange
    (targets/recording.py): it reads through stat_many, read_many or an idempotent run, before it runs any
    changing command, and it never looks at what a changing command printed. A read it makes after a
    command, or one the batch cannot answer, carries the change out on its own instead."""


class Discovers:
    """Its objects carry this stack's ownership label or tag."""

    def discover(self, target: Any) -> Mapping[str, Mapping[str, Any]]:
        """The objects on `target` that carry this stack's ownership marks: address -> identity. Used to
        rebuild a lost state and for drift's "unmanaged" class."""
        raise NotImplementedError


class FormsGroups:
    """Its objects can be the hosts of an inventory group (`inventory.dynamic`)."""

    def group_members(self, target: Any, query: GroupQuery) -> GroupMembers:
        """The objects that are an inventory group's hosts: see GroupQuery."""
        raise NotImplementedError


class ShowsText:
    """Rewrites texts whose difference a plan can show."""

    def text_diffs(self, target: Any, changes: Sequence[Change], context: int = 3) -> Mapping[str, str]:
        """Per change address, how a text the change rewrites differs (a file's content): a unified diff with
        `context` lines around each change, or a line with sizes and digests when it is binary or large. Read
        from the target in one batch; changes with nothing to show are left out. Never asked for secret
        values."""
        raise NotImplementedError
