"""Helpers for the labeling tests."""

from labeling import services


def cast(user, grid, votes, **kwargs):
    """votes: {(row, col): class or None} in order."""
    return services.votes_cast_many(
        user=user,
        grid=grid,
        votes=[{"row": r, "col": c, "class": k} for (r, c), k in votes.items()],
        **kwargs,
    )
