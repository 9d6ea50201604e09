"""Build reconcile's container image: `make image` (or `python -m tools.image`), and the suite's image test.

1. The wheel (`python -m build`), unless one is given.
2. A wheelhouse of the wheel and its dependencies for the image's Python (Debian bookworm: CPython 3.11),
   downloaded here, so the image build itself needs no package index.
3. A Debian bookworm base: `debian:bookworm-slim` when the engine has it (it is never pulled from here),
   else one made here with debootstrap (minbase, with python3, python3-venv, graphviz, openssh-client), cached by the hash
   of its recipe.
4. The Dockerfile at the repository's root, built by the engine (DOCKER_HOST, or the default socket).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASE_PACKAGES = "python3,python3-venv,graphviz,openssh-client,ca-certificates"
BASE_RECIPE = f"2|bookworm|minbase|{BASE_PACKAGES}"
IMAGE_PYTHON = "3.11"  # Debian bookworm's python3


def version() -> str:
    text = (ROOT / "reconciler/__init__.py").read_text()
    found = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    assert found, "reconciler/__init__.py has no __version__"
    return found.group(1)


def build_wheel(out: Path) -> Path:
    """The wheel, built from the sdist (as a release would be), in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], check=True,
                   stdout=subprocess.DEVNULL)
    wheels = sorted(out.glob(f"reconcile_iac-{version()}-*.whl"))
    assert wheels, f"no wheel of reconcile-iac {version()} in {out}"
    return wheels[-1]


def wheelhouse(wheel: Path, into: Path) -> None:
    """The wheel and every dependency, as binary wheels for the image's Python and machine."""
    into.mkdir(parents=True, exist_ok=True)
    machine = platform.machine()
    platforms = [f"manylinux_2_{n}_{machine}" for n in (36, 34, 31, 28, 17)] + [f"manylinux2014_{machine}"]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
                    "--python-version", IMAGE_PYTHON, "--implementation", "cp",
                    *[a for p in platforms for a in ("--platform", p)], "--dest", str(into), f"{wheel}[watch]"],
                   check=True)


def debian_mirror() -> str:
    for source in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if source.is_file():
            found = re.search(r"(?:URIs:|deb)\s+(\S*debian\.org/debian)\s", source.read_text())
            if found:
                return found.group(1)
    return "http://deb.debian.org/debian"


def base_image(client: Any) -> str:
    """A Debian bookworm image on this engine: the official slim one if it can be had, else bootstrapped."""
    try:  # never pulled from here (`docker pull debian:bookworm-slim` first to use the official one)
        client.images.get("debian:bookworm-slim")
        return "debian:bookworm-slim"
    except Exception:  # noqa: BLE001 - not on the engine: bootstrap one
        pass
    tag = f"reconcile/debian-base:{hashlib.sha256(BASE_RECIPE.encode()).hexdigest()[:12]}"
    try:
        client.images.get(tag)
        return tag
    except Exception:  # noqa: BLE001 - not built on this machine yet
        pass
    if shutil.which("debootstrap") is None:
        raise SystemExit("no Debian base image can be pulled and debootstrap is not installed "
                         "(apt-get install debootstrap)")
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", str(rootfs),
                        debian_mirror()], check=True, stdout=subprocess.DEVNULL)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / cache).glob("*"):
                if item.is_file():
                    item.unlink()
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            tar.add(rootfs, arcname=".")
        repo, label = tag.split(":")
        client.api.import_image_from_data(data.getvalue(), repository=repo, tag=label,
                                          changes=['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'CMD ["/bin/bash"]'])
    return tag


def build_image(client: Any, tag: str, wheel: Path | None = None) -> str:
    """Build the image as `tag`; returns its id."""
    with tempfile.TemporaryDirectory() as tmp:
        context = Path(tmp)
        wheel = wheel or build_wheel(context / "dist")
        wheelhouse(wheel, context / "wheelhouse")
        shutil.copy(ROOT / "Dockerfile", context / "Dockerfile")
        image, _ = client.images.build(path=str(context), tag=tag, rm=True, forcerm=True,
                                       buildargs={"BASE": base_image(client)})
        return str(image.id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tag", default=f"reconcile:{version()}")
    parser.add_argument("--wheel", type=Path, help="Use this wheel instead of building one.")
    args = parser.parse_args(argv)
    import docker

    client = docker.from_env(timeout=600)
    image_id = build_image(client, args.tag, args.wheel)
    print(f"built {args.tag} ({image_id[:19]}) on {os.environ.get('DOCKER_HOST') or 'the default engine'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
