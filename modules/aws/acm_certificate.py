"""`aws.acm_certificate`: a certificate issued by ACM for a domain and its alternative names, validated
by DNS: the records to create come out as `validation_record_name`, `validation_record_type` and
`validation_record_value` (the main domain's) for an `aws.route53_record`, and `validation_records`
for all of them. Any change of names is a new certificate (made before the old one goes, as the
listener using it must always have one: `lifecycle: {create_before_destroy: true}` is advised).
ListCertificates is one paginated call for all; each managed certificate costs a describe and its
tags."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import TerraformForm
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Adopted, Module, NotCarried
from reconciler.targets.aws import OWNER_TAG, STACK_TAG, AwsSession

from .common import (
    GONE,
    api_errors,
    carries_marks,
    desired_tags,
    ownership_tags,
    paginate,
    retag,
    visible_tags,
)
from .terraform import listed, pick, tags


def validation(certificate: Mapping[str, Any]) -> list[dict[str, str]]:
    out = []
    for option in certificate.get("DomainValidationOptions") or []:
        record = option.get("ResourceRecord") or {}
        if record:
            out.append({"domain": option["DomainName"], "name": record["Name"], "type": record["Type"],
                        "value": record["Value"]})
    return out


class AcmCertificateModule(Module[AwsSession], TerraformForm):
    type_name = "aws.acm_certificate"

    terraform_types = ("aws_acm_certificate",)
    terraform_computed = frozenset({
        "domain_validation_options", "validation_emails", "type", "not_after", "not_before", "pending_renewal",
        "renewal_eligibility", "renewal_summary", "options", "early_renewal_duration", "validation_option",
        "key_algorithm"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        method = values.get("validation_method") or "DNS"
        if method != "DNS" or values.get("certificate_body") or values.get("private_key"):
            raise NotCarried("", "an imported certificate, or one validated by e-mail (aws.acm_certificate "
                                 "requests certificates validated through DNS)")
        out = pick(values, {"domain_name": "domain_name"})
        others = [s for s in listed(values, "subject_alternative_names") if s != values.get("domain_name")]
        if others:
            out["subject_alternative_names"] = others
        return Adopted({**out, **tags(values)}, str(values["arn"]))
    family = "aws"
    computed = frozenset({"arn", "status", "validation_records", "validation_record_name", "validation_record_type",
                          "validation_record_value"})
    volatile = frozenset({"status"})
    requires_replace = frozenset({"domain_name", "subject_alternative_names"})
    not_compared = frozenset({"state", "import"})
    observe_unresolved = True

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"arn": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return None  # certificates for one domain may coexist (a renewal made before the old one goes)

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"domain_name": str(r.get("domain_name")).lower(),
                "subject_alternative_names": sorted(str(n).lower() for n in r.get("subject_alternative_names") or []),
                "owned": True, "tags": desired_tags(r)}

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        acm = session.client("acm")
        with api_errors():
            summaries = session.listed("acm:certificates", lambda: paginate(
                acm, "list_certificates", "CertificateSummaryList"))
        domains = {str(r.get("domain_name")).lower() for r in resources}
        known = {str(r.prior.get("arn") or r.get("import") or "") for r in resources} - {""}
        candidates = [s["CertificateArn"] for s in summaries
                      if s.get("DomainName", "").lower() in domains or s["CertificateArn"] in known]
        details = dict(zip(candidates, session.map(lambda arn: self._describe(acm, arn), candidates), strict=True))
        out: dict[str, Observed | Unobservable | None] = {}
        for r in resources:
            arn = r.prior.get("arn") or r.get("import")
            if not arn:
                arn = next((a for a, (_, tags) in details.items() if tags.get(OWNER_TAG) == r.address
                            and tags.get(STACK_TAG) == session.stack), None)
            if not arn or arn not in details:
                out[r.address] = None
                continue
            cert, tags = details[str(arn)]
            records = validation(cert)
            main = next((v for v in records if v["domain"].lower() == str(cert.get("DomainName", "")).lower()), {})
            sans = sorted(n.lower() for n in cert.get("SubjectAlternativeNames") or [] if
                          n.lower() != str(cert.get("DomainName", "")).lower())
            attrs = {"arn": arn, "domain_name": str(cert.get("DomainName", "")).lower(), "subject_alternative_names": sans,
                     "status": cert.get("Status"), "validation_records": records,
                     "validation_record_name": main.get("name"), "validation_record_type": main.get("type"),
                     "validation_record_value": main.get("value"),
                     "owned": carries_marks(tags, r, session), "tags": visible_tags(tags)}
            out[r.address] = Observed(attrs, identity={"arn": arn, "tags": tags}, ours=attrs["owned"])
        return out

    @staticmethod
    def _describe(acm: Any, arn: str) -> tuple[dict[str, Any], dict[str, str]]:
        with api_errors():
            cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
            tags = {t["Key"]: t["Value"] for t in acm.list_tags_for_certificate(CertificateArn=arn).get("Tags") or []}
        return cert, tags

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        acm = session.client("acm")
        want = self.desired(r)
        with api_errors():
            if change.observed is None:
                tags = {**want["tags"], **ownership_tags(r, session)}
                token = hashlib.sha256(f"{session.stack}|{r.address}|{session.run_id}".encode()).hexdigest()[:32]
                kwargs: dict[str, Any] = {"DomainName": want["domain_name"], "ValidationMethod": "DNS",
                                          "IdempotencyToken": token,
                                          "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
                if want["subject_alternative_names"]:
                    kwargs["SubjectAlternativeNames"] = [want["domain_name"], *want["subject_alternative_names"]]
                arn = acm.request_certificate(**kwargs)["CertificateArn"]
            else:
                arn = str(change.observed.identity["arn"])
                retag(change.observed.identity.get("tags", {}), r, session,
                      lambda t: acm.add_tags_to_certificate(CertificateArn=arn,
                                                            Tags=[{"Key": k, "Value": v} for k, v in t.items()]),
                      lambda keys: acm.remove_tags_from_certificate(CertificateArn=arn,
                                                                    Tags=[{"Key": k} for k in keys]))
            cert, _ = self._describe(acm, arn)
        records = validation(cert)
        main = next((v for v in records if v["domain"].lower() == want["domain_name"]), {})
        return Observed({**want, "arn": arn, "status": cert.get("Status"), "validation_records": records,
                         "validation_record_name": main.get("name"), "validation_record_type": main.get("type"),
                         "validation_record_value": main.get("value")}, identity={"arn": arn})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=GONE):
            session.client("acm").delete_certificate(CertificateArn=str(observed.identity["arn"]))
