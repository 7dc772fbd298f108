"""Gates: per step and env, who acts (learner or expert) and whom the expert labels.

DAgger, HG-DAgger, ThriftyDAgger, EnsembleDAgger and LazyDAgger are one round loop
(:func:`mimetic.interactive.dagger.fit`) with different gates. Each family lives in its own module:

- :mod:`.beta`: DAgger's beta mixture (per step or per episode) and the beta schedules;
- :mod:`.segment`: forward training's "expert from step t on";
- :mod:`.human`: HG-DAgger's simulated human (:mod:`.keyboard`: a live one);
- :mod:`.thrifty`: ThriftyDAgger's novelty / risk switch;
- :mod:`.ensemble`: EnsembleDAgger; :mod:`.lazy`: LazyDAgger.

A *gate* (``protocols.Gate``) decides one round's steps; a *gate factory* (``GateFactory``) builds
each round's gate from what has been gathered so far (``RoundContext``); the ``*Options`` classes
are the command-line options of a family and build its factory.
"""
