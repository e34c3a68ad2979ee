"""Library-wide settings, as scikit-learn has them: get_config, set_config, config_context.

As in scikit-learn, the settings are per Python thread: ``set_config`` and
``config_context`` change the calling thread's, and a new thread starts from
the defaults. The default of ``thread_policy`` can also come from the
environment variable ``SCRATCHMLP_THREAD_POLICY``, which child processes
(joblib's workers in a ``GridSearchCV(n_jobs=...)``) inherit.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

__all__ = ["config_context", "get_config", "set_config"]

#: The values of ``thread_policy``: see :func:`set_config`.
THREAD_POLICIES = ("auto", "off")

_defaults = {"thread_policy": os.environ.get("SCRATCHMLP_THREAD_POLICY", "auto")}
_local = threading.local()


def _thread_config() -> dict:
    if not hasattr(_local, "config"):
        _local.config = dict(_defaults)
    return _local.config


def _check_thread_policy(value) -> str:
    if value not in THREAD_POLICIES:
        raise ValueError(
            f"thread_policy must be one of {THREAD_POLICIES}, got {value!r} (from "
            "set_config, config_context or the SCRATCHMLP_THREAD_POLICY environment variable)."
        )
    return value


def get_config() -> dict:
    """The current settings of scratchmlp, for the calling thread.

    Returns
    -------
    config : dict
        ``{"thread_policy": str}``; see :func:`set_config`.
    """
    config = dict(_thread_config())
    _check_thread_policy(config["thread_policy"])
    return config


def set_config(thread_policy: str | None = None) -> None:
    """Change scratchmlp's settings for the calling thread.

    Parameters
    ----------
    thread_policy : {'auto', 'off'}, default=None
        How many BLAS threads numpy's matrix products use in a fit or a
        prediction. ``'auto'`` (the default): scratchmlp chooses, never more
        than the caller allows (``threadpoolctl.threadpool_limits``,
        joblib's worker limits, ``OPENBLAS_NUM_THREADS``), as described on
        the documentation's performance page. ``'off'``: the products run on
        whatever count the caller set, as before the policy existed; with
        ``threadpool_limits(limits=k)`` around a fit this forces ``k``
        threads. None leaves the setting unchanged.
    """
    if thread_policy is not None:
        _thread_config()["thread_policy"] = _check_thread_policy(thread_policy)


@contextmanager
def config_context(*, thread_policy: str | None = None):
    """Change scratchmlp's settings within a ``with`` block (calling thread only).

    Parameters
    ----------
    thread_policy : {'auto', 'off'}, default=None
        See :func:`set_config`.

    Examples
    --------
    >>> from scratchmlp import config_context, get_config
    >>> with config_context(thread_policy="off"):
    ...     get_config()["thread_policy"]
    'off'
    """
    old = dict(_thread_config())
    set_config(thread_policy=thread_policy)
    try:
        yield
    finally:
        _thread_config().update(old)
