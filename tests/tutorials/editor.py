"""The user's editor for ``kubectl edit`` (``KUBE_EDITOR="python3 editor.py"``): makes
the edits a tutorial describes in words, given as a JSON list of ``[old, new]`` in
``$TUTORIAL_EDITS``, each replacing every occurrence of ``old`` in the file. It exits 1
without saving when one does not occur, so a test never goes on with an unedited object."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(path: str) -> int:
    file = Path(path)
    text = file.read_text()
    for old, new in json.loads(os.environ["TUTORIAL_EDITS"]):
        if old not in text:
            print(f"editor.py: {old!r} is not in the object:\n{text}", file=sys.stderr)
            return 1
        text = text.replace(old, new)
    file.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[-1]))
