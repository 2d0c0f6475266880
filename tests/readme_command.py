"""Print README command N (1 or 2) of "Two commands on a fresh machine", exactly as printed.

    python3 tests/readme_command.py 1

The command is the first ```bash block after the paragraph that starts with "**N.". .ci/run
runs what this prints, so CI runs what a newcomer copies. Standard library only.
"""

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_command(number: int, text: str | None = None) -> str:
    text = README.read_text(encoding="utf-8") if text is None else text
    section = text.split("## Two commands on a fresh machine", 1)[-1]
    found = re.search(rf"^\*\*{number}\..*?^```bash\n(.*?)^```", section, re.S | re.M)
    if not found:
        raise SystemExit(
            f"tests/readme_command.py: README.md has no command {number} (a ```bash block after '**{number}.')"
        )
    lines = [line for line in found.group(1).splitlines() if line.strip()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(readme_command(int(sys.argv[1])))
