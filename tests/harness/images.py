"""Test images, built here (no Docker Hub): busybox from Debian's busybox-static, `docker import`ed."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from typing import Any

from .docker_engine import machine_lock

BUSYBOX = "reconcile-test/busybox:1"


def ensure_busybox(client: Any) -> str:
    with machine_lock("images"):
        try:
            client.images.get(BUSYBOX)
            return BUSYBOX
        except Exception:
            pass
        binary = shutil.which("busybox") or "/bin/busybox"
        applets = subprocess.run([binary, "--list"], capture_output=True, text=True, check=True).stdout.split()
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            for d in ("bin", "tmp", "etc", "www"):
                info = tarfile.TarInfo(d)
                info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
                tar.addfile(info)
            tar.add(binary, arcname="bin/busybox")
            for applet in applets:
                if applet != "busybox":
                    link = tarfile.TarInfo(f"bin/{applet}")
                    link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                    tar.addfile(link)
            for name, text in (("etc/passwd", "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"),
                               ("etc/group", "root:x:0:\nnogroup:x:65534:\n"), ("www/index.html", "busybox\n")):
                blob = text.encode()
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(blob), 0o644
                tar.addfile(info, io.BytesIO(blob))
        repo, tag = BUSYBOX.split(":")
        client.api.import_image_from_data(data.getvalue(), repository=repo, tag=tag,
                                          changes=['ENV PATH=/bin', 'CMD ["/bin/sh"]'])
        return BUSYBOX


def build(client: Any, tag: str, dockerfile: str, files: dict[str, str] | None = None) -> str:
    """A small image FROM busybox; returns its id."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, text in {"Dockerfile": dockerfile, **(files or {})}.items():
            blob = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    data.seek(0)
    image, _ = client.images.build(fileobj=data, custom_context=True, tag=tag, rm=True)
    return str(image.id)
