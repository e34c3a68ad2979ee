"""scikit-learn's estimator checks, and the constructor / parameter-validation parity.

Every check of ``parametrize_with_checks`` runs on both estimators with each
solver and with the extra ``leaky_relu`` activation, with no expected
failure: a drop-in replacement must pass everything scikit-learn's own MLPs
pass. Each runs twice: at the default parameters (``max_iter=200``, where
lbfgs fits the checks' small data sets to saturation) and with
``max_iter=100``, what scikit-learn's test suite sets for its MLPs.
The two checks scikit-learn runs on its estimators outside
``parametrize_with_checks`` (parameter validation, DataFrame column names)
run too.

The constructor has scikit-learn's parameters, in its order, of its kinds,
with its defaults; the extensions (listed below) come after them,
keyword-only. Every value scikit-learn accepts is accepted, and the only
values accepted beyond those are the listed extensions."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils._param_validation import InvalidParameterError, make_constraint
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_param_validation,
    parametrize_with_checks,
)
from threadpoolctl import threadpool_limits

from scratchmlp import ScratchMLPClassifier, ScratchMLPRegressor

PAIRS = [(ScratchMLPClassifier, MLPClassifier), (ScratchMLPRegressor, MLPRegressor)]


def _instances(**params):
    out = []
    for cls, _ in PAIRS:
        for solver in ("adam", "sgd", "lbfgs"):
            out.append(cls(solver=solver, **params))
        out.append(cls(activation="leaky_relu", **params))
    return out


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # The checks fit tiny data sets: two BLAS threads on the 2-core test
    # machine only add contention.
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# The checks fit tiny data sets, unscaled, for a few iterations: that the
# optimizer has not converged (or oscillates, for sgd on the regression
# checks' unscaled targets) is expected there, and scikit-learn's own MLPs
# warn alike. A DivergenceWarning, a ConvergenceWarning too, still fails the
# test (pyproject.toml, and conftest's no_unexpected_divergence).
_EXPECTED_CONVERGENCE_WARNINGS = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


@_EXPECTED_CONVERGENCE_WARNINGS
@parametrize_with_checks(_instances() + _instances(max_iter=100))
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# Checks that scikit-learn runs on its own estimators outside
# parametrize_with_checks (sklearn/tests/test_common.py).
@_EXPECTED_CONVERGENCE_WARNINGS
@pytest.mark.parametrize("estimator", _instances(max_iter=100), ids=repr)
def test_sklearn_check_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)


@_EXPECTED_CONVERGENCE_WARNINGS
@pytest.mark.parametrize("estimator", _instances(max_iter=100), ids=repr)
def test_sklearn_check_dataframe_column_names_consistency(estimator):
    pytest.importorskip("pandas")
    check_dataframe_column_names_consistency(type(estimator).__name__, estimator)


# ---------------------------------------------------------------------------
# Constructor signature.
# ---------------------------------------------------------------------------
#: Parameters beyond scikit-learn's, all keyword-only and after scikit-learn's,
#: whose defaults keep scikit-learn's behaviour (see test_parity.py). Adding one
#: is a deliberate API change: list it here.
EXTENSION_PARAMETERS = {
    ScratchMLPClassifier: [
        "class_weight",
        "dropout",
        "init",
        "max_grad_norm",
        "scoring",
        "callbacks",
    ],
    ScratchMLPRegressor: ["dropout", "init", "max_grad_norm", "scoring", "callbacks"],
}


def _signature(cls):
    return [
        (p.name, p.kind, p.default)
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self"
    ]


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=lambda c: c.__name__)
def test_signature_matches_sklearn(ours, theirs):
    """scikit-learn's parameters, in its order, of its kinds, with its defaults."""
    expected = _signature(theirs)
    got = _signature(ours)
    assert got[: len(expected)] == expected
    extras = got[len(expected) :]
    assert [name for name, _, _ in extras] == EXTENSION_PARAMETERS[ours]
    for name, kind, default in extras:
        assert kind is inspect.Parameter.KEYWORD_ONLY, name
        assert default is not inspect.Parameter.empty, name
    # The same through the public API: scikit-learn's defaults in get_params.
    ours_defaults = ours().get_params()
    theirs_defaults = theirs().get_params()
    assert {k: ours_defaults[k] for k in theirs_defaults} == theirs_defaults


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=lambda c: c.__name__)
def test_positional_and_keyword_only_split(ours, theirs):
    positional = [
        name
        for name, kind, _ in _signature(theirs)
        if kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    assert positional == [
        name
        for name, kind, _ in _signature(ours)
        if kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    values = {"loss": "poisson", "hidden_layer_sizes": (7, 3), "activation": "tanh"}
    est = ours(*[values[name] for name in positional])
    for name in positional:
        assert getattr(est, name) == values[name]
    with pytest.raises(TypeError):
        ours(*[values[name] for name in positional], "adam")  # solver is keyword-only


# ---------------------------------------------------------------------------
# Parameter constraints: every value scikit-learn accepts, and only those
# plus the deliberate extensions.
# ---------------------------------------------------------------------------
def _accepts(constraints, value):
    return any(make_constraint(c).is_satisfied_by(value) for c in constraints)


#: Values of scikit-learn's parameters that only scratchmlp accepts.
EXTENSION_ACTIVATIONS = {"leaky_relu", "elu", "gelu", "softplus", "silu"}
EXTENSION_VALUES = {
    "activation": [*sorted(EXTENSION_ACTIVATIONS), ["relu", "tanh"], ("relu",)],
    "solver": ["rmsprop", "adamw"],
    "learning_rate": ["cosine"],
}

# Candidate values per parameter, valid and invalid for scikit-learn.
CANDIDATES = {
    "hidden_layer_sizes": [(100,), [5, 5], np.array([3]), 10, 1, 0, -1, 2.5, "x", None],
    "activation": ["identity", "logistic", "tanh", "relu", "foo", "softmax", None, 3],
    "solver": ["lbfgs", "sgd", "adam", "x", None],
    "alpha": [0, 0.0, 1e-4, 10, -1, -1e-9, "x", None],
    "batch_size": ["auto", 1, 200, 0, -1, 2.5, "x", None],
    "learning_rate": ["constant", "invscaling", "adaptive", "x", None],
    "learning_rate_init": [1e-3, 1, 0, -1, "x", None],
    "power_t": [0, 0.5, 2, -0.1, "x", None],
    "max_iter": [1, 200, 0, -1, 2.5, None],
    "shuffle": [True, False, np.bool_(True), 1, "x", None],
    "random_state": [None, 0, 42, np.random.RandomState(0), -1, 2.5, "x"],
    "tol": [0, 1e-4, -1e-4, "x", None],
    "verbose": [True, False, 0, 2, -1, "x", None],
    "warm_start": [True, False, 1, "x", None],
    "momentum": [0, 0.5, 1, -0.1, 1.1, None],
    "nesterovs_momentum": [True, False, 0, None],
    "early_stopping": [True, False, 0, None],
    "validation_fraction": [0, 0.1, 0.99, 1, -0.1, None],
    "beta_1": [0, 0.9, 1, -0.1, None],
    "beta_2": [0, 0.999, 1, -0.1, None],
    "epsilon": [1e-8, 1, 0, -1e-8, None],
    "n_iter_no_change": [1, 10, np.inf, 0, -1, 2.5, -np.inf, None],
    "max_fun": [1, 15000, 0, -1, 2.5, None],
    "loss": ["squared_error", "poisson", "absolute_error", "x", None],
}


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=lambda c: c.__name__)
def test_parameter_constraints_cover_every_parameter(ours, theirs):
    # Every constructor parameter is validated (what check_param_validation needs).
    assert set(ours._parameter_constraints) == set(ours._get_param_names())
    assert set(ours._parameter_constraints) == set(theirs._parameter_constraints) | set(
        EXTENSION_PARAMETERS[ours]
    )


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=lambda c: c.__name__)
def test_parameter_constraints_match_sklearn(ours, theirs):
    for name, theirs_constraints in theirs._parameter_constraints.items():
        ours_constraints = ours._parameter_constraints[name]
        for value in CANDIDATES[name]:
            expected = _accepts(theirs_constraints, value)
            assert _accepts(ours_constraints, value) == expected, (name, value)
        for value in EXTENSION_VALUES.get(name, []):
            assert not _accepts(theirs_constraints, value), (name, value)
            assert _accepts(ours_constraints, value), (name, value)


def test_leaky_relu_is_among_the_extra_activations():
    ours = ScratchMLPClassifier._parameter_constraints["activation"][0]
    theirs = MLPClassifier._parameter_constraints["activation"][0]
    assert "leaky_relu" in ours.options and "leaky_relu" not in theirs.options
    assert ours.options == theirs.options | EXTENSION_ACTIVATIONS


BAD_PARAMS = [
    {"activation": "foo"},
    {"alpha": -1},
    {"solver": "x"},
    {"hidden_layer_sizes": 0},
    {"hidden_layer_sizes": -3},
    {"learning_rate": "x"},
    {"learning_rate_init": 0},
    {"batch_size": 0},
    {"max_iter": 0},
    {"momentum": 1.5},
    {"validation_fraction": 1},
    {"beta_1": 1},
    {"beta_2": -0.1},
    {"epsilon": 0},
    {"n_iter_no_change": 0},
    {"max_fun": 0},
    {"tol": -1},
    {"shuffle": "yes"},
]


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "params", BAD_PARAMS, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items())
)
def test_bad_parameters_raise_on_fit(ours, theirs, params):
    X = np.random.RandomState(0).rand(10, 3)
    y = np.array([0, 1] * 5)
    with pytest.raises(InvalidParameterError) as ours_error:
        ours(**params).fit(X, y)
    with pytest.raises(InvalidParameterError) as theirs_error:
        theirs(**params).fit(X, y)
    # The same message as scikit-learn's, apart from the class name and the
    # (unordered) option sets, which gain the extension values.
    ours_message = str(ours_error.value).replace(ours.__name__, theirs.__name__)
    theirs_message = str(theirs_error.value)
    name = next(iter(params))
    extensions = [v for v in EXTENSION_VALUES.get(name, []) if isinstance(v, str)]
    for value in extensions:
        assert repr(value) in ours_message
    if name == "activation":
        # ...and the per-layer lists and tuples.
        assert ours_message.startswith(theirs_message.split(" among ")[0])
        assert ours_message.endswith("Got 'foo' instead.")
    else:
        assert _normalise(ours_message, drop=extensions) == _normalise(theirs_message)


def _normalise(message, drop=()):
    """Sort the items of every ``{...}`` set literal in an error message, without ``drop``."""
    drop = {repr(v) for v in drop}

    def sort_items(match):
        items = [i for i in match.group(1).split(", ") if i not in drop]
        return "{" + ", ".join(sorted(items)) + "}"

    return re.sub(r"\{([^{}]*)\}", sort_items, message)


def test_regressor_bad_loss_raises_on_fit():
    X = np.random.RandomState(0).rand(10, 3)
    with pytest.raises(InvalidParameterError):
        ScratchMLPRegressor(loss="absolute_error").fit(X, np.arange(10.0))


def test_classifier_bad_class_weight_raises_on_fit():
    X = np.random.RandomState(0).rand(10, 3)
    with pytest.raises(InvalidParameterError):
        ScratchMLPClassifier(class_weight="foo", max_iter=5).fit(X, np.array([0, 1] * 5))
