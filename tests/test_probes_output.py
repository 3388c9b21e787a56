"""Probes of what the CLI prints (issue "Reliability and security", item 13): a prompt's description
and a commit message are data, shown escaped, never run as terminal escape sequences or markup."""

from __future__ import annotations

import re

from promptops.testing.project import git


def test_list_and_log_escape_control_sequences_and_markup(git_project, cli) -> None:
    path = git_project / "prompts" / "capital.prompt"
    hostile = 'description: "clear \\e[2J\\e[31mred\\r[bold]loud[/bold] \\u202egnp"'
    text = re.sub(r"^description:.*$", lambda _: hostile, path.read_text(), count=1, flags=re.MULTILINE)
    path.write_text(text)
    git(git_project, "commit", "-qam", "msg \x1b]0;owned\x07 title \x1b[5mblink")
    listed = cli("list", cwd=git_project).stdout
    logged = cli("log", "capital", cwd=git_project).stdout
    for out in (listed, logged):
        assert "\x1b" not in out and "\r" not in out and "\u202e" not in out and "\x07" not in out
    assert "\\x1b[2J" in listed and "[bold]loud[/bold]" in listed and "\\u202e" in listed
    assert "\\x1b]0;owned\\x07" in logged
