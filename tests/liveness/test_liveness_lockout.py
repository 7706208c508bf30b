"""Repeated spoof attempts lock out the identity that was presented, for a while."""

from __future__ import annotations

import pytest

from turnstile.vision.liveness import SpoofLockout


def test_locks_after_n_spoofs_in_a_row_and_only_that_identity():
    lockout = SpoofLockout(max_attempts=3, lockout_s=600)
    assert lockout.record_spoof(7, now=0.0) is False
    assert lockout.record_spoof(7, now=10.0) is False
    assert not lockout.is_locked(7, now=11.0)
    assert lockout.record_spoof(7, now=20.0) is True  # the third: lock + alert
    assert lockout.is_locked(7, now=21.0)
    assert lockout.remaining_s(7, now=21.0) == pytest.approx(599.0)
    assert not lockout.is_locked(8, now=21.0)
    assert lockout.locked(now=21.0) == [7]


def test_lock_expires_after_lockout_s_and_counting_starts_again():
    lockout = SpoofLockout(max_attempts=2, lockout_s=60)
    lockout.record_spoof(1, now=0.0)
    assert lockout.record_spoof(1, now=1.0) is True
    assert lockout.is_locked(1, now=60.9)
    assert not lockout.is_locked(1, now=61.0)
    assert lockout.remaining_s(1, now=61.0) == 0.0
    assert lockout.failures(1) == 0
    # one more failure after the lock is not yet a new lock
    assert lockout.record_spoof(1, now=62.0) is False
    assert lockout.failures(1) == 1


def test_spoofs_during_a_lock_do_not_extend_it_nor_alert_again():
    lockout = SpoofLockout(max_attempts=2, lockout_s=100)
    lockout.record_spoof(3, now=0.0)
    assert lockout.record_spoof(3, now=1.0) is True
    assert lockout.record_spoof(3, now=50.0) is False
    assert lockout.record_spoof(3, now=60.0) is False
    assert not lockout.is_locked(3, now=101.0)


def test_a_live_passage_resets_the_count():
    lockout = SpoofLockout(max_attempts=3, lockout_s=600)
    lockout.record_spoof(5, now=0.0)
    lockout.record_spoof(5, now=1.0)
    lockout.record_success(5)
    assert lockout.failures(5) == 0
    assert lockout.record_spoof(5, now=2.0) is False
    assert lockout.record_spoof(5, now=3.0) is False
    assert not lockout.is_locked(5, now=3.5)


def test_a_success_does_not_lift_an_active_lock_but_an_admin_can():
    lockout = SpoofLockout(max_attempts=1, lockout_s=600)
    assert lockout.record_spoof(9, now=0.0) is True
    lockout.record_success(9)
    assert lockout.is_locked(9, now=1.0)
    lockout.unlock(9)
    assert not lockout.is_locked(9, now=1.0)


@pytest.mark.parametrize("attempts, seconds", [(0, 60), (3, 0), (3, -5)])
def test_nonsense_settings_are_refused(attempts, seconds):
    with pytest.raises(ValueError):
        SpoofLockout(max_attempts=attempts, lockout_s=seconds)
