"""Print one of the README's two set-up commands, exactly as the README writes it.

    python .ci/readme_commands.py main|test

The commands are the indented lines of the README's "## Two commands" section: the first
installs and runs the main job, the second installs and runs the tests. Reading them from the
README means CI runs what a new user copies, and fails if the section loses either one.
"""

import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def two_commands(text):
    section = text.split("\n## Two commands\n", 1)[1].split("\n## ", 1)[0]
    commands = [line.strip() for line in section.splitlines() if line.startswith("    ")]
    if len(commands) != 2:
        raise SystemExit(f"README.md's 'Two commands' section has {len(commands)} indented "
                         "commands, expected 2 (install and run the main job; the tests)")
    return dict(zip(("main", "test"), commands))


if __name__ == "__main__":
    print(two_commands(README.read_text(encoding="utf-8"))[sys.argv[1]])
