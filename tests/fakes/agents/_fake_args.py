"""The fake agent CLIs' argument parser: commander/clap/yargs/argparse behaviour, stdlib only."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

FLAG, VALUE, VALUES, OPTIONAL = "flag", "value", "values", "optional"


@dataclass(frozen=True)
class Option:
    """One option of a CLI: its spellings, what it takes, its allowed values."""

    names: tuple[str, ...]
    takes: str = FLAG
    meta: str = ""  # the value's placeholder in the real CLI's messages, e.g. "<format>"
    choices: tuple[str, ...] = ()
    repeat: bool = False  # a VALUE option that may be given several times (kept as a list)

    @property
    def key(self) -> str:
        """Return the name parsed values are stored under: the first long spelling."""
        long_names = [name for name in self.names if name.startswith("--")]
        return (long_names or list(self.names))[0].lstrip("-")


@dataclass
class Parsed:
    """The outcome of parsing: values by key, positionals, and the first problem found."""

    values: dict[str, object] = field(default_factory=dict)
    positionals: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    ambiguous: tuple[str, list[str]] | None = None
    missing_value: Option | None = None
    bad_choice: tuple[Option, str] | None = None

    def get(self, key: str, default: object = None) -> object:
        """Return the value stored under `key`."""
        return self.values.get(key, default)


def parse(argv: list[str], options: Iterable[Option], *, abbrev: bool = False) -> Parsed:
    """Parse `argv` like commander/clap/yargs/argparse do for these options.

    `abbrev` accepts unique prefixes of long options, as Python's argparse does.
    """
    table = {name: option for option in options for name in option.names}
    parsed = Parsed()
    tokens = list(argv)
    while tokens:
        token = tokens.pop(0)
        if token == "--":
            parsed.positionals += tokens
            break
        if not token.startswith("-") or token == "-":
            parsed.positionals.append(token)
            continue
        name, has_inline, inline = token.partition("=")
        option = _lookup(table, name, abbrev, parsed)
        if option is None:
            if parsed.ambiguous:
                return parsed
            parsed.unknown.append(name)
            continue
        if not _take(option, tokens, inline if has_inline else None, parsed):
            return parsed
    return parsed


def _lookup(table: dict[str, Option], name: str, abbrev: bool, parsed: Parsed) -> Option | None:
    """Find the option spelled `name` (or, with `abbrev`, uniquely prefixed by it)."""
    if name in table or not (abbrev and name.startswith("--")):
        return table.get(name)
    matches = sorted(spelling for spelling in table if spelling.startswith(name))
    if len({id(table[spelling]) for spelling in matches}) == 1:
        return table[matches[0]]
    if matches:
        parsed.ambiguous = (name, matches)
    return None


def _take(option: Option, tokens: list[str], inline: str | None, parsed: Parsed) -> bool:
    """Store `option`'s value(s) from `inline` or the next tokens; False on a problem."""
    if option.takes == FLAG:
        parsed.values[option.key] = True
        return True
    if option.takes == VALUES:
        values = [inline] if inline is not None else []
        while tokens and not tokens[0].startswith("-"):
            values.append(tokens.pop(0))
        if not values:
            parsed.missing_value = option
            return False
        parsed.values[option.key] = [*parsed.values.get(option.key, []), *values]
        return True
    value = inline
    if value is None and tokens and not tokens[0].startswith("-"):
        value = tokens.pop(0)
    if value is None:
        if option.takes == OPTIONAL:
            parsed.values[option.key] = True
            return True
        parsed.missing_value = option
        return False
    if option.choices and value not in option.choices:
        parsed.bad_choice = (option, value)
        return False
    if option.repeat:
        parsed.values[option.key] = [*parsed.values.get(option.key, []), value]
    else:
        parsed.values[option.key] = value
    return True


def fail(message: str, code: int) -> None:
    """Print `message` to stderr and exit with `code`."""
    print(message, file=sys.stderr, flush=True)
    raise SystemExit(code)


def check_argparse(prog: str, usage: str, parsed: Parsed) -> None:
    """Reject what Python's argparse rejects, with its messages (exit 2)."""
    problem = None
    if parsed.ambiguous:
        name, matches = parsed.ambiguous
        problem = f"ambiguous option: {name} could match {', '.join(matches)}"
    elif parsed.missing_value:
        problem = f"argument {'/'.join(parsed.missing_value.names)}: expected one argument"
    elif parsed.bad_choice:
        option, value = parsed.bad_choice
        choices = ", ".join(f"'{choice}'" for choice in option.choices)
        problem = (
            f"argument {'/'.join(option.names)}: invalid choice: '{value}' (choose from {choices})"
        )
    elif parsed.unknown:
        problem = f"unrecognized arguments: {' '.join(parsed.unknown)}"
    if problem:
        fail(f"{usage}\n{prog}: error: {problem}", 2)
