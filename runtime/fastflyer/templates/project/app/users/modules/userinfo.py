"""User profiles, kept in memory for the example (one copy per worker process)."""

import itertools
import threading

from ..schemas.userinfo import User, UserIn

_lock = threading.Lock()
_ids = itertools.count(1)
_users: dict[int, User] = {}


def create_user(data: UserIn) -> User:
    with _lock:
        user = User(id=next(_ids), **data.model_dump())
        _users[user.id] = user
    return user


def get_user(user_id: int) -> User | None:
    return _users.get(user_id)


def list_users(offset: int, limit: int) -> tuple[list[User], int]:
    with _lock:
        users = sorted(_users.values(), key=lambda user: user.id)
    return users[offset : offset + limit], len(users)


create_user(UserIn(name="alice", email="alice@example.com"))
create_user(UserIn(name="bob", email="bob@example.com"))
