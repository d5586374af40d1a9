"""moekit: mixtures of experts fitted by EM, from Python.

Two estimators with scikit-learn's shape (fit / predict / predict_proba / score / bic ...):

* GaussianMixture: a mixture of multivariate Gaussians (constant gate), as
  sklearn.mixture.GaussianMixture or R's mclust.
* MixtureOfExperts: any family of experts (linear, logistic, poisson, t, ...) under a constant,
  softmax or Gaussian gate, or a gating tree (hierarchical mixture of experts), with R-style
  formulas against the columns of a pandas DataFrame.

Both wrap the C++ library (moekit/_core) with the settings of the `moekit fit` command: the
same defaults (tol 1e-8 on the relative log-likelihood change, max_iter 1000), the same starts
for a seed, the same model files. Errors of the library are raised as moekit.InputError (a
ValueError) for bad input and options, moekit.NumericalError (a RuntimeError) for numerical
trouble, each with the library's message. Messages number rows from 1 ("DataFrame:line 5"
is the fifth row).
"""

import inspect
import json
import math

import numpy as np

from . import _core
from ._core import Error, InputError, ModelFormatError, NumericalError

__all__ = ["GaussianMixture", "MixtureOfExperts", "load", "Error", "InputError",
           "ModelFormatError", "NumericalError", "__version__"]

__version__ = "0.1.0"

# scikit-learn's covariance names, mapped onto moekit's structures (mclust's VVV, ... and
# moekit's own names pass through).
_COVARIANCE_NAMES = {"tied": "tied-full"}


def _is_dataframe(X):
    return hasattr(X, "columns") and hasattr(X, "dtypes")


def _column(values):
    """A float64 array for a numeric column, a list of str/None for a factor."""
    a = np.asarray(values)
    if a.dtype.kind in "biuf":
        return np.ascontiguousarray(a, dtype=np.float64)
    out = []
    for v in a.tolist():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        else:
            out.append(str(v))
    return out


def _table(X, names=None, y=None, y_names=None):
    """_core.Data from a DataFrame, a dict of columns or an (n, d) array (+ y). Messages name
    the source ("DataFrame:line 5" is its fifth row)."""
    cols, col_names = [], []
    source = "array"
    if _is_dataframe(X) or isinstance(X, dict):
        source = "DataFrame" if _is_dataframe(X) else "dict"
        for name in X.keys() if isinstance(X, dict) else X.columns:
            col_names.append(str(name))
            cols.append(_column(X[name]))
    elif X is not None:
        a = np.asarray(X, dtype=np.float64)
        if a.ndim == 1:
            a = a.reshape(-1, 1)
        if a.ndim != 2:
            raise InputError(f"X: expected a 2-d array, got {a.ndim} dimensions")
        names = names or [f"x{j + 1}" for j in range(a.shape[1])]
        if len(names) != a.shape[1]:
            raise InputError(f"X has {a.shape[1]} columns; the model was fitted on {len(names)}")
        for j, name in enumerate(names):
            col_names.append(name)
            cols.append(np.ascontiguousarray(a[:, j]))
    if y is not None:
        b = np.asarray(y)
        if b.ndim == 1:
            b = b.reshape(-1, 1)
        for j, name in enumerate(y_names):
            col_names.append(name)
            cols.append(_column(b[:, j]))
    return _core.Data(col_names, cols, source)


class _Estimator:
    """What both estimators share: parameters, fitting, criteria, files."""

    # --- scikit-learn's parameter protocol -------------------------------------------------
    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep=True):
        return {p: getattr(self, p) for p in self._param_names()}

    def set_params(self, **params):
        for k, v in params.items():
            if k not in self._param_names():
                raise ValueError(f"invalid parameter {k!r} for {type(self).__name__}")
            setattr(self, k, v)
        return self

    def __repr__(self):
        defaults = {p.name: p.default for p in
                    inspect.signature(type(self).__init__).parameters.values()}
        shown = [f"{k}={v!r}" for k, v in self.get_params().items() if defaults.get(k) != v]
        return f"{type(self).__name__}({', '.join(shown)})"

    # --- fitting ----------------------------------------------------------------------------
    def _common_args(self):
        args = {"max_iter": int(self.max_iter), "tol": float(self.tol),
                "restarts": int(self.n_init), "reg_covar": float(self.reg_covar),
                "init": self.init, "method": self.method, "threads": int(self.threads),
                "seed": 1 if self.random_state is None else int(self.random_state)}
        if self.covariance_type is not None:
            args["covariance"] = _COVARIANCE_NAMES.get(self.covariance_type,
                                                       self.covariance_type)
        return args

    def _fit_core(self, data, args, K, tree=""):
        self._fitted = _core.Fitted.fit(data, args, int(K), tree)
        self._set_attributes()
        return self

    def _check_fitted(self):
        if getattr(self, "_fitted", None) is None:
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet: call fit first")
        return self._fitted

    def _set_attributes(self):
        f = self._fitted
        model = json.loads(f.to_json())
        self.model_ = model
        fit = model.get("fit", {})
        self.fit_record_ = fit
        self.parameters_ = model["parameters"]
        self.n_components_ = f.components
        self.converged_ = bool(fit.get("converged", False))
        self.n_iter_ = int(fit.get("iterations", 0))
        self.loglik_ = float(fit["loglik"]) if "loglik" in fit else float("nan")
        n = fit.get("n_obs", 0)
        self.n_obs_ = int(n)
        # scikit-learn's lower_bound_: the per-sample log-likelihood EM reached.
        self.lower_bound_ = self.loglik_ / n if n else float("nan")
        self.n_params_ = f.n_params
        self.aic_ = fit.get("aic")
        self.bic_ = fit.get("bic")
        self.icl_ = fit.get("icl")
        names, values = f.natural_parameters()
        self.natural_parameters_ = dict(zip(names, np.asarray(values).tolist()))
        self.response_names_ = list(f.response_names)

    # --- results ----------------------------------------------------------------------------
    def summary(self):
        """The text of `moekit summary`: spec, parameters, fit record, criteria conventions."""
        return self._check_fitted().summary()

    def to_json(self):
        """The model file's text (the CLI's `fit --out` format)."""
        return self._check_fitted().to_json()

    def save(self, path):
        """Writes the model file (atomically) that `moekit predict/summary/simulate` read."""
        self._check_fitted().save(str(path))

    def _criteria(self, *data):
        return self._check_fitted().criteria(self._data(*data))

    def score_samples(self, *data):
        """log p(y_i | x_i, z_i) of every row under the fitted mixture, shape (n,)."""
        return self._check_fitted().predict(self._data(*data), "log-density").ravel()

    def score(self, *data):
        """The mean log-likelihood per row (scikit-learn's score)."""
        return float(np.mean(self.score_samples(*data)))

    def bic(self, *data):
        """-2 loglik + p log n on these data (lower is better; as the fit record's bic_)."""
        return self._criteria(*data)["bic"]

    def aic(self, *data):
        """-2 loglik + 2 p on these data (lower is better)."""
        return self._criteria(*data)["aic"]

    def icl(self, *data):
        """BIC + 2 x the hard-assignment entropy (Biernacki et al. 2000; lower is better)."""
        return self._criteria(*data)["icl"]

    def predict_proba(self, *data):
        """Posterior probabilities P(component k | row), shape (n, K)."""
        return self._check_fitted().predict(self._data(*data), "posterior")

    @classmethod
    def load(cls, path):
        """A fitted estimator from a model file written by `save` or `moekit fit --out`."""
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return cls._from_fitted(_core.Fitted.from_json(text, str(path)))

    @classmethod
    def _from_fitted(cls, fitted):
        spec = json.loads(fitted.to_json())["spec"]
        if cls is _Estimator:
            flat = len(spec.get("tree", [])) <= 1
            plain = (spec["experts"] == "gaussian" and spec["gate"] == "constant" and flat
                     and not spec.get("data", {}).get("formula"))
            cls = GaussianMixture if plain else MixtureOfExperts
        est = cls._from_spec(spec, fitted)
        est._fitted = fitted
        est._set_attributes()
        return est


class GaussianMixture(_Estimator):
    """A mixture of K multivariate Gaussians fitted by EM (moekit fit --experts gaussian).

    Parameters follow sklearn.mixture.GaussianMixture where they mean the same:
    n_components (K), covariance_type ('full', 'tied', 'diag', 'spherical'; also moekit's
    'tied-diag', 'tied-spherical' and mclust's 'VVV', 'EEE', 'VVI', 'EEI', 'VII', 'EII'),
    n_init (starts; the best log-likelihood is kept: the CLI's --restarts), random_state
    (the CLI's --seed; None means seed 1, so that fits are reproducible), max_iter, tol
    (on the relative change of the log-likelihood, not scikit-learn's absolute change of the
    per-sample bound), reg_covar, init ('auto' = k-means++, 'random').

    X is an (n, d) array or a DataFrame whose numeric columns are the variables.
    """

    def __init__(self, n_components=1, *, covariance_type="full", n_init=1, random_state=None,
                 max_iter=1000, tol=1e-8, reg_covar=1e-6, init="auto", method="em", threads=0):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.random_state = random_state
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.init = init
        self.method = method
        self.threads = threads

    def _data(self, X):
        names = getattr(self, "feature_names_in_", None)
        if _is_dataframe(X) or isinstance(X, dict):
            return _table(X)
        return _table(X, names=list(names) if names is not None else None)

    def fit(self, X, y=None):
        """Fits the mixture to X (y is ignored, as in scikit-learn). Returns self."""
        data = self._data(X)
        return self._fit_core(data, self._common_args(), self.n_components)

    def fit_predict(self, X, y=None):
        return self.fit(X).predict(X)

    def predict(self, X):
        """The component with the largest posterior probability of each row (0-based)."""
        return np.argmax(self.predict_proba(X), axis=1)

    def sample(self, n_samples=1, random_state=None):
        """(X, labels): n_samples draws and their components. Unlike scikit-learn, the draws
        are in the order drawn, not sorted by component."""
        seed = random_state if random_state is not None else (
            1 if self.random_state is None else self.random_state)
        y, comp = self._check_fitted().simulate(None, int(n_samples), int(seed))
        return np.asarray(y), np.asarray(comp, dtype=np.int64)

    def _set_attributes(self):
        super()._set_attributes()
        # The columns it was fitted on: arrays given later are read under these names.
        self.feature_names_in_ = np.array(self.response_names_, dtype=object)
        self.n_features_in_ = len(self.response_names_)
        experts = self.parameters_["experts"]
        comps = experts["components"]
        self.means_ = np.array([c["mean"] for c in comps], dtype=float).reshape(len(comps), -1)
        full = self._full_covariances(experts, comps)
        self.full_covariances_ = full
        kind = _COVARIANCE_NAMES.get(self.covariance_type, self.covariance_type)
        if kind == "diag":
            self.covariances_ = np.array([np.diag(s) for s in full])
        elif kind == "spherical":
            self.covariances_ = np.array([s[0, 0] for s in full])
        elif kind == "tied-full":
            self.covariances_ = full[0]
        else:
            self.covariances_ = full
        self.weights_ = self._gate_weights()

    def _full_covariances(self, experts, comps):
        d = self.means_.shape[1]
        shared = experts.get("shared", {})
        if "covariance" in shared:  # tied structures: one matrix for every component
            s = np.array(shared["covariance"], dtype=float).reshape(d, d)
            return np.array([s for _ in comps])
        return np.array([np.array(c["covariance"], dtype=float).reshape(d, d) for c in comps])

    def _gate_weights(self):
        # The constant gate at the root: its probabilities are the mixing weights.
        gate = self.parameters_["gates"][0]["parameters"]
        return np.array(gate["weights"], dtype=float).reshape(-1)

    @classmethod
    def _from_spec(cls, spec, fitted):
        cov = spec.get("covariance", "full")
        return cls(n_components=fitted.components,
                   covariance_type={"tied-full": "tied"}.get(cov, cov))


class MixtureOfExperts(_Estimator):
    """A mixture of experts: p(y | x, z) = sum_k g_k(z) p_k(y | x) (moekit fit).

    formula: 'y ~ x1 + x2' (R syntax: factors, interactions, '| g' for grouped rows) against
    the columns of a DataFrame; gate_formula: '~ z1 + z2' for the gate's covariates (default:
    the formula's right side). experts: gaussian | linear | logistic | poisson | binomial |
    gamma | laplace | t. gate: constant | softmax | gaussian. n_components (K) or tree
    ('2,2' or (2, 2): a depth-2 hierarchical mixture of experts). covariance_type applies to
    gaussian, linear and t experts; df fixes the t experts' degrees of freedom (None:
    estimated); gate_ridge is a softmax gate's L2 penalty. The rest as GaussianMixture.

    fit(X, y=None): X a DataFrame (with the formula), or an (n, p) covariate array with y the
    response (n,) or (n, q): the formula is then 'y ~ x1 + ... + xp' unless given.
    """

    def __init__(self, formula=None, *, gate_formula=None, experts="linear", gate="softmax",
                 n_components=2, tree=None, covariance_type=None, n_init=1, random_state=None,
                 max_iter=1000, tol=1e-8, reg_covar=1e-6, init="auto", df=None, gate_ridge=0.0,
                 gate_covariance=None, method="em", threads=0):
        self.formula = formula
        self.gate_formula = gate_formula
        self.experts = experts
        self.gate = gate
        self.n_components = n_components
        self.tree = tree
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.random_state = random_state
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.init = init
        self.df = df
        self.gate_ridge = gate_ridge
        self.gate_covariance = gate_covariance
        self.method = method
        self.threads = threads

    def _array_names(self, X, y):
        a = np.asarray(X)
        p = 1 if a.ndim == 1 else a.shape[1]
        x_names = [f"x{j + 1}" for j in range(p)]
        b = np.asarray(y)
        q = 1 if b.ndim == 1 else b.shape[1]
        y_names = ["y"] if q == 1 else [f"y{j + 1}" for j in range(q)]
        return x_names, y_names

    def _data(self, X, y=None):
        if _is_dataframe(X) or isinstance(X, dict):
            if y is not None:
                raise InputError("y: give the response as a column of the DataFrame named in "
                                 "the formula, not as y")
            return _table(X)
        names = getattr(self, "_x_names", None)
        y_names = getattr(self, "_y_names", None)
        if y is not None and y_names is None:
            names, y_names = self._array_names(X, y)
        return _table(X, names=names, y=y, y_names=y_names)

    def fit(self, X, y=None):
        """Fits by EM from n_init starts. Returns self."""
        args = self._common_args()
        if _is_dataframe(X) or isinstance(X, dict):
            if self.formula is None:
                raise InputError("formula: a DataFrame needs a formula such as 'y ~ x'")
            self._x_names = self._y_names = None
            formula = self.formula
        else:
            if y is None:
                raise InputError("y: arrays need the response y (or pass a DataFrame)")
            self._x_names, self._y_names = self._array_names(X, y)
            formula = self.formula or (" + ".join(self._y_names) + " ~ " +
                                       " + ".join(self._x_names))
        args.update(formula=formula, experts=self.experts, gate=self.gate,
                    gate_ridge=float(self.gate_ridge))
        if self.gate_formula:
            args["gate_formula"] = self.gate_formula
        if self.gate_covariance:
            args["gate_covariance"] = self.gate_covariance
        if self.df is not None:
            args["df"] = float(self.df)
        tree = self.tree
        if isinstance(tree, (tuple, list)):
            tree = ",".join(str(int(b)) for b in tree)
        K = self.n_components
        if tree:
            K = math.prod(int(b) for b in str(tree).split(","))
        data = _table(X) if self._x_names is None else self._data(X, y)
        self._fit_core(data, args, K, tree or "")
        return self

    def _set_attributes(self):
        super()._set_attributes()
        f = self._fitted
        self.x_names_ = list(f.x_names)
        self.z_names_ = list(f.z_names)
        self.classes_ = list(f.response_levels) if f.categorical else None

    def _shape(self, m):
        m = np.asarray(m)
        return m.ravel() if m.ndim == 2 and m.shape[1] == 1 else m

    def predict(self, X, y=None):
        """The gated mean sum_k g_k(z) E[y | x, k] (shape (n,) for one response); for
        logistic experts the most probable class label."""
        f = self._check_fitted()
        if f.categorical:
            p = f.predict(self._data(X, y), "class-probabilities")
            return np.asarray(self.classes_, dtype=object)[np.argmax(p, axis=1)]
        return self._shape(f.predict(self._data(X, y), "mean"))

    def predict_gate(self, X):
        """Gate probabilities g_k(z) of the experts (no response needed), shape (n, K)."""
        return self._check_fitted().predict(self._data(X), "gate")

    def predict_class(self, X, y=None):
        """The component with the largest posterior probability of each row (0-based)."""
        return np.argmax(self.predict_proba(X, y), axis=1)

    def predict_expert_means(self, X):
        """Each expert's prediction E[y | x, k]: shape (n, K) for one response, else
        (n, K, q)."""
        m = np.asarray(self._check_fitted().predict(self._data(X), "expert-means"))
        K = self.n_components_
        m = m.reshape(m.shape[0], K, -1)
        return m[:, :, 0] if m.shape[2] == 1 else m

    def predict_quantile(self, X, level):
        """The predictive quantile of the mixture at level (gaussian, linear, laplace, t)."""
        return self._shape(self._check_fitted().predict(self._data(X), "quantile", float(level)))

    def predict_median(self, X):
        return self._shape(self._check_fitted().predict(self._data(X), "median"))

    def predict_class_proba(self, X):
        """Logistic experts: P(class | x, z) under the mixture, shape (n, classes)."""
        return self._check_fitted().predict(self._data(X), "class-probabilities")

    def predict_branch_proba(self, X, y=None):
        """Gating trees: posterior probabilities of the inner nodes below the root."""
        return self._check_fitted().predict(self._data(X, y), "branch")

    def sample(self, X, random_state=None):
        """(y, components): one draw of the response for each row of X (the covariates)."""
        seed = random_state if random_state is not None else (
            1 if self.random_state is None else self.random_state)
        y, comp = self._check_fitted().simulate(self._data(X), 0, int(seed))
        return self._shape(y), np.asarray(comp, dtype=np.int64)

    @classmethod
    def _from_spec(cls, spec, fitted):
        data = spec.get("data", {})
        tree = spec.get("tree", [])
        return cls(formula=data.get("formula") or None,
                   gate_formula=data.get("gate_formula") or None,
                   experts=spec["experts"], gate=spec["gate"], n_components=fitted.components,
                   tree=",".join(str(b) for b in tree) if len(tree) > 1 else None)


def load(path):
    """A fitted GaussianMixture (Gaussian experts, constant gate, no formula) or
    MixtureOfExperts from a model file."""
    return _Estimator.load(path)
