"""Who follows whom; uses the userinfo module so that only existing users can follow."""

import threading

from . import userinfo

_lock = threading.Lock()
_following: dict[int, set[int]] = {}


class UnknownUserError(LookupError):
    """A user id that does not exist; the router turns it into a 404."""


def _check(*user_ids: int) -> None:
    for user_id in user_ids:
        if userinfo.get_user(user_id) is None:
            raise UnknownUserError(user_id)


def follow(user_id: int, target_id: int) -> None:
    _check(user_id, target_id)
    with _lock:
        _following.setdefault(user_id, set()).add(target_id)


def unfollow(user_id: int, target_id: int) -> None:
    _check(user_id, target_id)
    with _lock:
        _following.get(user_id, set()).discard(target_id)


def relationship(user_id: int) -> tuple[list[int], list[int]]:
    """The ids ``user_id`` follows and the ids that follow ``user_id``."""
    _check(user_id)
    with _lock:
        following = sorted(_following.get(user_id, ()))
        followers = sorted(
            uid for uid, targets in _following.items() if user_id in targets
        )
    return following, followers
