"""An interrupt that lands while a part holds interrupts waits for its end;
one that a driver turned into an error of its own is raised again."""

import pytest

from dmarc_analyzer import interrupts


class Stop(BaseException):
    pass


def _stop() -> None:
    raise Stop


@pytest.fixture(autouse=True)
def nothing_arrived_before_or_after():
    interrupts.forget()
    yield
    interrupts.forget()


def test_outside_a_held_part_an_interrupt_does_not_wait():
    assert interrupts.arrived(_stop) is False


def test_an_interrupt_that_arrived_is_raised_again_where_asked():
    interrupts.raise_if_arrived()  # none yet: nothing happens

    interrupts.arrived(_stop)

    with pytest.raises(Stop):
        interrupts.raise_if_arrived()


def test_a_held_interrupt_is_raised_when_the_held_part_ends():
    steps = []
    with pytest.raises(Stop), interrupts.held():
        assert interrupts.arrived(_stop) is True
        interrupts.raise_if_arrived()  # held: not yet
        steps.append("the held part went on")
    assert steps == ["the held part went on"]


def test_nested_held_parts_raise_once_the_outermost_ends():
    steps = []
    with pytest.raises(Stop), interrupts.held():
        with interrupts.held():
            interrupts.arrived(_stop)
        steps.append("still held after the inner part")
    assert steps == ["still held after the inner part"]


def test_a_held_part_without_an_interrupt_ends_quietly():
    with interrupts.held():
        pass
    interrupts.forget()
    with interrupts.held():
        pass
