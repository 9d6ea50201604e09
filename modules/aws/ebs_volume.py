"""`aws.ebs_volume`: a volume (size and type change in place) and its attachment to an instance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.aws_errors import error_code
from reconciler.model import Change, Observed, Resource
from reconciler.module import Adopted
from reconciler.targets.aws import AwsSession

from .common import (
    GONE,
    api_errors,
    create_once,
    tag_specs,
)
from .ec2_base import Ec2Module
from .policy import text_map
from .terraform import pick, tags

WAIT = {"Delay": 1, "MaxAttempts": 600}


class EbsVolumeModule(Ec2Module):
    type_name = "aws.ebs_volume"
    terraform_types = ("aws_ebs_volume",)
    terraform_names = {"volume_type": "type"}  # as the provider names them
    terraform_computed = frozenset({"create_time", "final_snapshot", "multi_attach_enabled"})
    terraform_defaults = {"iops": 3000, "throughput": 125}  # gp3's

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        return Adopted({**pick(values, {"availability_zone": "availability_zone", "size": "size",
                                        "type": "volume_type", "encrypted": "encrypted"}), **tags(values)},
                       str(values["id"]))

    describe = ("describe_volumes", "Volumes", "VolumeId", "volume-id")
    computed = frozenset({"id", "arn"})
    requires_replace = frozenset({"availability_zone", "encrypted"})

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        out: dict[str, Any] = {"availability_zone": r.get("availability_zone"), "size": int(r.get("size")),
                               "volume_type": r.get("volume_type") or "gp3",
                               "tags": text_map(r.get("tags"))}
        if r.get("encrypted") is not None:
            out["encrypted"] = bool(r.get("encrypted"))
        if r.get("attachment") is not None:
            out["attachment"] = {"instance_id": r.get("attachment")["instance_id"],
                                 "device": r.get("attachment")["device"]}
        return out

    def attributes(self, session: AwsSession, resource: Resource, v: Mapping[str, Any]) -> dict[str, Any]:
        attached = [a for a in v.get("Attachments") or [] if a.get("State") in ("attaching", "attached")]
        return {"availability_zone": v["AvailabilityZone"], "size": v["Size"], "volume_type": v.get("VolumeType"),
                "encrypted": bool(v.get("Encrypted")), "arn": f"arn:aws:ec2:{session.region}::volume/{v['VolumeId']}",
                "attachment": {"instance_id": attached[0]["InstanceId"], "device": attached[0]["Device"]}
                if attached else None}

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        ec2 = session.client("ec2")
        want = self.desired(r)
        with api_errors():
            if change.observed is None:
                kwargs: dict[str, Any] = {"AvailabilityZone": want["availability_zone"], "Size": want["size"],
                                          "VolumeType": want["volume_type"], "TagSpecifications": tag_specs(r, "volume", session)}
                if "encrypted" in want:
                    kwargs["Encrypted"] = want["encrypted"]
                kwargs["ClientToken"] = self.client_token(session, r)
                volume_id = create_once(r.address, lambda: session.client("ec2", once=True).create_volume(**kwargs),
                                        lambda: self.tagged_item(session, r))["VolumeId"]
                ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig=WAIT)
                changed, attached = {"attachment"}, None
            else:
                volume_id = change.observed.identity["id"]
                changed = {d.name for d in change.diffs}
                attached = change.observed.attributes.get("attachment")
                if changed & {"size", "volume_type"}:
                    ec2.modify_volume(VolumeId=volume_id, Size=want["size"], VolumeType=want["volume_type"])
                self.retag(session, change, volume_id)
            if "attachment" in changed and attached != want.get("attachment"):
                if attached:
                    self._detach(ec2, volume_id, attached["instance_id"])
                if want.get("attachment"):
                    ec2.attach_volume(VolumeId=volume_id, InstanceId=want["attachment"]["instance_id"],
                                      Device=want["attachment"]["device"])
                    ec2.get_waiter("volume_in_use").wait(VolumeIds=[volume_id], WaiterConfig=WAIT)
        return Observed({**want, "id": volume_id}, identity={"id": volume_id})

    @staticmethod
    def _detach(ec2: Any, volume_id: str, instance_id: str) -> None:
        try:
            ec2.detach_volume(VolumeId=volume_id, InstanceId=instance_id)
        except Exception as exc:  # the instance went (replaced or terminated) and took the attachment along
            if error_code(exc) not in ("InvalidAttachment.NotFound", "IncorrectState", "InvalidInstanceID.NotFound"):
                raise
        ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig=WAIT)

    def destroy_hazard(self, session: AwsSession, change: Change, going: Sequence[Change] = ()) -> str | None:
        """A volume is a disk: what is on it cannot be seen from here, so destroying it is always a hazard."""
        ident = (change.observed.identity if change.observed else {}).get("id")
        return f"volume {ident} is a disk whose data would be lost" if ident else None

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        ec2 = session.client("ec2")
        volume_id = observed.identity.get("id") or observed.attributes["id"]
        with api_errors(ignore=GONE):
            if observed.attributes.get("attachment"):
                self._detach(ec2, volume_id, observed.attributes["attachment"]["instance_id"])
            ec2.delete_volume(VolumeId=volume_id)
