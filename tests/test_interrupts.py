"""An interrupt that lands while a part holds interrupts waits for its end."""

import pytest

from dmarc_analyzer import interrupts


class Stop(BaseException):
    pass


def _stop() -> None:
    raise Stop


def test_outside_a_held_part_an_interrupt_does_not_wait():
    assert interrupts.defer(_stop) is False


def test_a_deferred_interrupt_is_raised_when_the_held_part_ends():
    steps = []
    with pytest.raises(Stop), interrupts.held():
        assert interrupts.defer(_stop) is True
        steps.append("the held part went on")
    assert steps == ["the held part went on"]


def test_nested_held_parts_raise_once_the_outermost_ends():
    steps = []
    with pytest.raises(Stop), interrupts.held():
        with interrupts.held():
            interrupts.defer(_stop)
        steps.append("still held after the inner part")
    assert steps == ["still held after the inner part"]
    assert interrupts.defer(_stop) is False


def test_a_held_part_without_an_interrupt_ends_quietly():
    with interrupts.held():
        pass
    assert interrupts.defer(_stop) is False
