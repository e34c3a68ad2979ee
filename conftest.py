"""Loaded by pytest before it imports anything under test.

scikit-learn's array API dispatch (and its array-API estimator checks, which
tests/test_estimator_checks.py and tests/test_array_api.py run) needs scipy's
own array API support, switched on by an environment variable that scipy
reads once, on import. Setting it here, before any test module or doctest
imports scipy, is what CI sets; the numpy results are the same either way
(tests/test_recorded_behaviour.py checks them bit for bit).
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")
