"""What an optimizer does at build: its plan from its arguments and the variables
(``plan.py``; what a saved config restores, ``restore.py``), the checks and warnings
about keys, exclusions and declared decays, and the ``init_verbose`` table (w0, made at
build too: ``anchors.py``).

A mixin of ``core.DecoupledCore``: it reads the attributes ``core`` adopts from the
arguments, and sets ``plan`` and what the config keeps.
"""

import warnings

from . import matching, plan as plans, report, restore, units

__all__ = ["PlanBuilding", "warn_unmatched_exclusions"]


class PlanBuilding:
    """The build-time part of ``core.DecoupledCore``."""

    def _rules(self) -> plans.Rules:
        return plans.Rules(self.lr_multipliers, self._user_decays, self._exclude_keys,
                           self.exclude_1d, self._settings.model_weight_decays,
                           self.decay_toward)

    def _resolve_variables(self, variables, placement=None):
        """The plan of the variables, once, at build; then the checks and the table."""
        paths, same_model = restore.paths_for(variables, self._variable_paths)
        self._variable_paths = paths
        type_excluded = restore.type_excluded(variables, self._exclude_types,
                                              self._type_excluded_ids,
                                              self._excluded_by_type, same_model)
        rules = self._rules()
        if self._settings.decays_from_model:
            declared = self._declared_decays(variables, paths, same_model)
            self._declared_by_index = [list(d) if d is not None else None for d in declared]
        else:
            declared = None
            self._warn_unapplied_declared(variables, paths)
        kwargs = {"placement": placement} if placement is not None else {}
        plan = plans.resolve(rules, variables, paths, declared=declared,
                             type_excluded=type_excluded,
                             use_weight_decay=self._use_weight_decay,
                             timescale_l2=self._timescale_l2, **kwargs)
        self.plan = plan
        self._excluded_by_type = sorted(type_excluded) if self._exclude_types else None
        plans.check_keys(rules, paths, True if self._restored else self._frozen_paths)
        warn_unmatched_exclusions(
            [matching.key_to_config(k) for k in matching.Matcher(self._exclude_keys)
             .unmatched(paths)], "name or pattern", None, stacklevel=4)
        if plan.dropped:
            dropped = list(plan.dropped)
            warnings.warn(
                "keras_adamw: the decays declared for "
                f"{dropped[:10]}{' ...' if len(dropped) > 10 else ''} are not applied: "
                "`exclude_from_weight_decay` / `exclude_1d` exclude these variables, and "
                "their penalties are off (exclusions win over every decay).", stacklevel=4)
        self._check_legacy_paths(paths)
        units.warn_other_units(self, plan.settings, stacklevel=4)
        if self.init_verbose and not self._restored and \
                list(plan.settings) != list(self._previewed or ()):
            print(report.settings_table(self, plan.settings, variables))

    def _preview(self, model):
        """With ``model=``: the plan at construction, before any training starts: the
        units warning, and with ``init_verbose`` the table (a build inside ``fit``
        would print it between Keras' "Epoch 1/N" line and its progress bar). The
        build prints again only if its settings differ."""
        variables = list(model.trainable_variables)
        try:
            paths = [restore.path_of(v) for v in variables]
            declared = [self._regularizers.declared_decay(v) for v in variables]
            type_excluded = {i for i, v in enumerate(variables)
                             if id(v) in (self._type_excluded_ids or ())}
            settings = plans.resolve(self._rules(), variables, paths, declared=declared,
                                     type_excluded=type_excluded,
                                     use_weight_decay=self._use_weight_decay,
                                     timescale_l2=self._timescale_l2).settings
        except Exception:  # the build reports whatever is wrong
            return
        units.warn_other_units(self, settings, stacklevel=5)
        if self.init_verbose:
            self._previewed = tuple(settings)
            print(report.settings_table(self, settings, variables))

    def _declared_decays(self, variables, paths, same_model: bool) -> list:
        """The decay each variable's regularizer declares (``model=``), or the one
        saved for its position (``declared_decays``) when the variable carries none
        and the saved paths describe this model (tf_keras variables lose their
        declared decay through save and load).

        A penalty that is live (a model loaded again keeps its regularizers, see
        ``regularizers/keras3.py``) is turned off: otherwise the weight would be
        decayed twice; with a warning when it is not the penalty the config saved
        for that variable."""
        saved = restore.saved_decays(self._settings.declared_decays, len(variables), same_model)
        declared, restored = [], []
        for index, (path, variable) in enumerate(zip(paths, variables)):
            decay = self._regularizers.declared_decay(variable)
            if decay is None and saved is not None and saved[index] is not None:
                decay = tuple(saved[index])
            known = saved is not None and saved[index] is not None and \
                tuple(saved[index]) == tuple(decay or ())
            if decay is not None and self.zero_penalties and \
                    self._regularizers.turn_off_variable(variable, decay) and not known:
                restored.append(path)  # not the saved model's own penalty: say so
            declared.append(decay)
        if restored:
            warnings.warn(
                "keras_adamw: removed the L1/L2 penalties of "
                f"{restored}: their decays are applied by the optimizer "
                "(zero_penalties=True), and a penalty in the loss would decay them "
                "twice.", stacklevel=4)
        for path, decay in zip(paths, declared):
            if decay is not None:
                self._declared.setdefault(path, decay)
        return declared

    def _warn_unapplied_declared(self, variables, paths):
        """Variables whose penalties an earlier ``model=`` turned into declared decays,
        trained by an optimizer created without ``model=`` and not named in its
        ``weight_decays``: say that they get none."""
        if self._user_decays is not None and not isinstance(self._user_decays, dict):
            return  # a float or a Timescale: every variable gets it
        user = matching.Matcher(self._user_decays if isinstance(self._user_decays, dict) else {})
        unapplied = [p for p, v in zip(paths, variables) if user.find(p) is None
                     and self._regularizers.declared_decay(v, turned_off_only=True) is not None]
        if unapplied:
            warnings.warn(
                "keras_adamw: the regularizers of "
                f"{unapplied[:10]}{' ...' if len(unapplied) > 10 else ''} were turned "
                "into declared decays by an optimizer created with model=, but "
                "this one was created without model= and does not apply them: pass "
                "model=model.", stacklevel=4)

    def _check_legacy_paths(self, paths):
        legacy = self._settings.model_weight_decays
        missing = [p for p in legacy if p not in set(paths)] if legacy else []
        if missing:
            warnings.warn(
                "keras_adamw: decays read from the model for variables this optimizer "
                f"does not train (frozen, or another model?): {missing}; they are "
                "not applied.", stacklevel=4)


def warn_unmatched_exclusions(entries, kind: str, model, stacklevel: int) -> None:
    """An exclusion that excludes nothing is most likely a typo, or a layer class the
    model does not use (KerasHub's norms are not keras.layers.LayerNormalization):
    the weights it was meant for are decayed. Say so."""
    if not entries:
        return
    hint = (" (keras_adamw.NORM_LAYERS excludes every normalization layer, whatever "
            "its class)" if kind == "layer class" else "")
    where = f"weight of {model.name!r}" if model is not None else "trainable variable"
    warnings.warn(
        f"keras_adamw: `exclude_from_weight_decay` {kind}(s) {entries} exclude no "
        f"{where}, so the weights they were meant for are decayed{hint}.",
        stacklevel=stacklevel)
