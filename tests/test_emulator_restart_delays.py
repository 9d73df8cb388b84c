"""The emulator's restart delays (``tests/emulator/backoff.py``), as the kubelet and the Job
controller compute them: the whole sequence, including what a test cannot wait for (the
300 s cap, the reset after 10 minutes, the Job controller's 6 minute cap)."""

from __future__ import annotations

import pytest

from emulator.backoff import RestartBackoff, job_delay


def delays(backoff: RestartBackoff, exits: list[float]) -> list[float]:
    """The wait before each restart of a container that exited at each of ``exits`` (seconds
    after its previous restart)."""
    waits, now = [], 0.0
    for ran in exits:
        exited = now + ran
        now = backoff.restart_at("c", exited)
        waits.append(now - exited)
    return waits


def test_first_restart_at_once_then_10_s_doubling_to_the_300_s_cap():
    assert delays(RestartBackoff(), [1.0] * 9) == [0, 10, 20, 40, 80, 160, 300, 300, 300]


def test_a_container_that_ran_ten_minutes_starts_over():
    backoff = RestartBackoff()
    assert delays(backoff, [1.0, 1.0, 1.0, 601.0, 1.0]) == [0, 10, 20, 0, 10]


def test_a_run_shorter_than_ten_minutes_keeps_the_delay_growing():
    assert delays(RestartBackoff(), [1.0, 1.0, 599.0, 1.0]) == [0, 10, 20, 40]


def test_each_container_has_its_own_delays():
    backoff = RestartBackoff()
    assert backoff.restart_at("a", 5.0) == 5.0
    assert backoff.restart_at("a", 6.0) == 16.0
    assert backoff.restart_at("b", 6.0) == 6.0


@pytest.mark.parametrize(("failures", "seconds"), [(1, 10), (2, 20), (3, 40), (6, 320), (7, 360), (20, 360)])
def test_job_controller_replaces_a_failed_pod_after_10_s_doubling_to_6_minutes(failures, seconds):
    assert job_delay(failures) == seconds
