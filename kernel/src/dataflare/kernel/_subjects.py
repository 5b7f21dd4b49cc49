"""NATS-style subjects: what a valid subject or pattern is, and which subjects a pattern matches.

A subject is a string of tokens separated by dots (``orders.eu.created``). A pattern
is a subject that may also hold wildcards, each a whole token: ``*`` matches exactly
one token and ``>`` matches one or more trailing tokens, so it must come last. These
are the rules of NATS subjects, so a pipeline moves from the in-process bus to a
NATS cluster without renaming anything.

Example::

    validate_pattern("orders.*.created")
    subject_matches("orders.>", "orders.eu.created")   # True
    subject_matches("orders.*", "orders.eu.created")   # False: '*' is one token
    validate_subject("orders.*")                       # raises InvalidSubjectError
"""

from __future__ import annotations

import re

from dataflare.kernel.errors import InvalidSubjectError

__all__ = ("subject_matches", "validate_pattern", "validate_subject")

_WHITESPACE = re.compile(r"\s")
_EXAMPLE = "e.g. 'orders.eu.created'"


def validate_subject(subject: str) -> tuple[str, ...]:
    """Check that a subject can be published to, and split it into tokens.

    Args:
        subject: Tokens separated by dots, with no wildcards, e.g. ``"orders.created"``.

    Returns:
        The subject's tokens, in order.

    Raises:
        InvalidSubjectError: If the subject is empty, has an empty token or
            whitespace, or contains a wildcard.
    """
    tokens = _split(subject)
    for token in tokens:
        if token in ("*", ">"):
            raise InvalidSubjectError(
                subject,
                f"wildcard {token!r} is only allowed in subscription patterns; "
                f"publish to a concrete subject, {_EXAMPLE}",
            )
    return tokens


def validate_pattern(pattern: str) -> tuple[str, ...]:
    """Check that a subscription pattern is well formed, and split it into tokens.

    Args:
        pattern: Tokens separated by dots, where a token may be ``*`` (exactly one
            token) and the last token may be ``>`` (one or more tokens), e.g.
            ``"orders.*.created"`` or ``"orders.>"``.

    Returns:
        The pattern's tokens, in order.

    Raises:
        InvalidSubjectError: If the pattern is empty, has an empty token or
            whitespace, or has ``>`` anywhere but last.
    """
    tokens = _split(pattern)
    if ">" in tokens[:-1]:
        raise InvalidSubjectError(
            pattern,
            "'>' matches all trailing tokens, so it must be the last token, e.g. 'orders.>'",
        )
    return tokens


def subject_matches(pattern: str, subject: str) -> bool:
    """Tell whether a subject matches a subscription pattern.

    Args:
        pattern: A subscription pattern, e.g. ``"orders.*"``.
        subject: A concrete subject, e.g. ``"orders.created"``.

    Returns:
        ``True`` if a subscription on ``pattern`` receives messages published to
        ``subject``.

    Raises:
        InvalidSubjectError: If the pattern or the subject is malformed.
    """
    return _match_tokens(validate_pattern(pattern), validate_subject(subject))


def _match_tokens(pattern: tuple[str, ...], subject: tuple[str, ...]) -> bool:
    """Match already validated tokens (the bus keeps patterns split, so it calls this)."""
    if pattern[-1] == ">":
        # '>' stands for at least one token, so the subject must be at least as long.
        if len(subject) < len(pattern):
            return False
        pattern = pattern[:-1]
        subject = subject[: len(pattern)]
    elif len(subject) != len(pattern):
        return False
    return all(want in ("*", got) for want, got in zip(pattern, subject, strict=True))


def _split(subject: str) -> tuple[str, ...]:
    """Split on dots after the checks subjects and patterns share."""
    if not subject:
        raise InvalidSubjectError(subject, f"a subject cannot be empty, {_EXAMPLE}")
    if (space := _WHITESPACE.search(subject)) is not None:
        raise InvalidSubjectError(
            subject,
            f"whitespace at position {space.start()} is not allowed, {_EXAMPLE}",
        )
    tokens = tuple(subject.split("."))
    for index, token in enumerate(tokens):
        if not token:
            raise InvalidSubjectError(
                subject,
                f"token {index + 1} is empty: tokens are separated by single dots, with "
                f"none at either end, {_EXAMPLE}",
            )
        if token not in ("*", ">") and ("*" in token or ">" in token):
            raise InvalidSubjectError(
                subject,
                f"token {token!r} mixes a wildcard with other characters: '*' and '>' "
                "must be whole tokens, e.g. 'orders.*' or 'orders.>'",
            )
    return tokens
