"""Regenerate the Python code for proto/kubeloop.proto, or check that it is current.

    python -m proto.generate          # rewrite proto/kubeloop_pb2*.py
    python -m proto.generate --check  # exit 1 if the committed code is stale

The generated files are committed so that installing kubeloop needs no protoc; the unit
suite runs the check, so a .proto change without regeneration fails CI.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "proto/kubeloop.proto"
OUTPUTS = ("kubeloop_pb2.py", "kubeloop_pb2.pyi", "kubeloop_pb2_grpc.py")


def generate(out_dir: Path) -> None:
    from grpc_tools import protoc  # only needed by developers, not at run time

    args = ["protoc", f"-I{ROOT}", f"--python_out={out_dir}", f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}", str(ROOT / SOURCE)]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed on {SOURCE}")


def stale_files() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        return [name for name in OUTPUTS
                if (Path(tmp) / "proto" / name).read_bytes() != (ROOT / "proto" / name).read_bytes()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    if parser.parse_args().check:
        stale = stale_files()
        if stale:
            print(f"stale generated code: {', '.join(stale)}; run: python -m proto.generate")
            return 1
        print("generated code is current")
        return 0
    generate(ROOT)
    print(f"regenerated {', '.join(OUTPUTS)} from {SOURCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
