"""The values of a few keys of a YAML text, read without a YAML library: sequences and
mappings of one-line scalars, one-line flow lists and mappings, nothing more. What this cannot
read for sure (an alias, a tag, a block scalar, a flow collection over several lines) raises
Unfollowable: its caller then does without the value rather than guess it.
"""

from __future__ import annotations

import re

_MAP_KEY = re.compile(r"(?P<q>[\"']?)(?P<key>[A-Za-z0-9_][\w.-]*)(?P=q)[ ]*:(?:[ ]+(?P<value>.*))?$")


class Unfollowable(Exception):
    """Something this reader cannot read (or follow) for sure."""


def _uncomment(line: str) -> str:
    """``line`` without its comment: a `#` after a blank, outside quotes."""
    quote = ""
    i = 0
    while i < len(line):
        char = line[i]
        if quote == '"' and char == "\\":
            i += 2
            continue
        if quote and char == quote:
            if quote == "'" and line[i + 1:i + 2] == "'":  # '' is a quote inside '...'
                i += 2
                continue
            quote = ""
        elif not quote and char in "\"'" and (i == 0 or line[i - 1] in " \t[{,:"):
            quote = char
        elif not quote and char == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
        i += 1
    return line


def lines(text: str) -> list[tuple[int, str]]:
    """The lines that hold something, each as (indentation, the rest without its comment)."""
    found = []
    for raw in text.splitlines():
        line = _uncomment(raw).rstrip()
        body = line.lstrip(" ")
        if body:
            found.append((len(line) - len(body), body))
    return found


def is_item(text: str) -> bool:
    return text == "-" or text.startswith("- ")


def _drop_anchor(text: str) -> str:
    """A value without its anchor (``&name``): what it holds is the same."""
    if text.startswith("&"):
        _anchor, _sep, text = text.partition(" ")
    return text.strip()


def _scalar(text: str) -> str | None:
    text = text.strip()
    if text[:1] == '"':
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != '"' or '"' in inner or "\\" in inner:
            raise Unfollowable(f"a quoted value this reader does not take: {text}")
        return inner
    if text[:1] == "'":
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != "'" or "'" in inner.replace("''", ""):
            raise Unfollowable(f"a quoted value this reader does not take: {text}")
        return inner.replace("''", "'")
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text[0] in "-?:,[]{}#&*!|>%@`" or ": " in text or " #" in text:
        raise Unfollowable(f"a value this reader does not take: {text}")
    return text


def _flow_items(inner: str) -> list[str]:
    """The comma-separated items of a one-line flow collection, with no collection inside."""
    items, quote, current = [], "", ""
    for char in inner:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[]{}":
            raise Unfollowable(f"a nested flow collection: {inner}")
        elif char == ",":
            items.append(current)
            current = ""
            continue
        current += char
    items.append(current)
    if items and not items[-1].strip():  # a trailing comma
        items.pop()
    return items


def _inline(text: str) -> object:
    """A value written on its key's line: a scalar, or a one-line flow list or mapping."""
    text = _drop_anchor(text)
    if text[:1] in ("*", "!", "|", ">"):
        raise Unfollowable(f"an alias, tag or block scalar: {text}")
    if text[:1] == "[":
        if text[-1] != "]":
            raise Unfollowable(f"a flow list over several lines: {text}")
        return [_scalar(item) for item in _flow_items(text[1:-1])]
    if text[:1] == "{":
        if text[-1] != "}":
            raise Unfollowable(f"a flow mapping over several lines: {text}")
        mapping: dict[str, object] = {}
        for item in _flow_items(text[1:-1]):
            match = _MAP_KEY.fullmatch(item.strip())
            if match is None:
                raise Unfollowable(f"a flow mapping this reader does not take: {text}")
            mapping[match["key"]] = _scalar(match["value"] or "")
        return mapping
    return _scalar(text)


class _Block:
    """The lines of one value written below its key: sequences and mappings of one-line
    values, nothing more (else Unfollowable)."""

    def __init__(self, lines: list[tuple[int, str]]) -> None:
        self.lines = list(lines)
        self.i = 0

    def parse(self) -> object:
        value = self.node()
        if self.i != len(self.lines):
            raise Unfollowable(f"a block this reader does not take: {self.lines[self.i][1]}")
        return value

    def node(self) -> object:
        indent, text = self.lines[self.i]
        if is_item(text):
            return self.sequence(indent)
        if _MAP_KEY.match(text):
            return self.mapping(indent)
        self.i += 1  # a scalar on a line of its own (after a bare "-")
        if self.below(indent):
            raise Unfollowable(f"a value over several lines: {text}")
        return _inline(text)

    def below(self, indent: int, *, items: bool = False) -> bool:
        """Whether the next line belongs to a value under a key at ``indent`` (a sequence may
        stand at the key's own indentation)."""
        if self.i >= len(self.lines):
            return False
        next_indent, text = self.lines[self.i]
        return next_indent > indent or (items and next_indent == indent and is_item(text))

    def sequence(self, indent: int) -> list[object]:
        found: list[object] = []
        while self.i < len(self.lines) and self.lines[self.i][0] == indent \
                and is_item(self.lines[self.i][1]):
            after = self.lines[self.i][1][1:]
            rest = _drop_anchor(after)
            if not rest:
                self.i += 1
                found.append(self.node() if self.below(indent) else None)
            elif is_item(rest) or _MAP_KEY.match(rest):
                self.lines[self.i] = (indent + 1 + len(after) - len(after.lstrip(" ")), rest)
                found.append(self.node())
            else:
                self.i += 1
                found.append(_inline(rest))
                if self.below(indent):
                    raise Unfollowable(f"a value over several lines: {rest}")
        return found

    def mapping(self, indent: int) -> dict[str, object]:
        found: dict[str, object] = {}
        while self.i < len(self.lines) and self.lines[self.i][0] == indent \
                and not is_item(self.lines[self.i][1]):
            match = _MAP_KEY.match(self.lines[self.i][1])
            if match is None or match["key"] in found:
                raise Unfollowable(f"a mapping this reader does not take: {self.lines[self.i][1]}")
            self.i += 1
            value = _drop_anchor(match["value"] or "")
            if value:
                found[match["key"]] = _inline(value)
                if self.below(indent):
                    raise Unfollowable(f"a value over several lines: {value}")
            else:
                found[match["key"]] = self.node() if self.below(indent, items=True) else None
        return found


def value_at(lines: list[tuple[int, str]], i: int, column: int, inline: str | None) -> object:
    """The value of the key on line ``i`` (its key at ``column``)."""
    text = _drop_anchor(inline or "")
    end = i + 1
    while end < len(lines) and (lines[end][0] > column or (lines[end][0] == column
                                                          and is_item(lines[end][1]))):
        end += 1
    if text:
        if end > i + 1:
            raise Unfollowable(f"a value over several lines: {text}")
        return _inline(text)
    return _Block(lines[i + 1:end]).parse() if end > i + 1 else None
