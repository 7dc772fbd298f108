"""Interactive imitation: the learner drives, an expert labels (and sometimes takes over).

- :mod:`.budget`: the label budget, the only path to an expert (every query counted once);
- :mod:`.loop`: the one round loop and its records;
- :mod:`.gates`: who acts and who is labelled, one module per family;
- :mod:`.risk`: the small state classifier that risk-aware gates learn;
- methods: :mod:`.dagger` (DAgger and every gate-defined member), :mod:`.aggrevate`,
  :mod:`.smile`, :mod:`.forward`;
- :mod:`.registry`: every method in one table (CLI subcommands, options, the labels experiment).

Import the modules themselves (``from mimetic.interactive import dagger``); this package imports
nothing on its own, so ``rollout`` can use the budget without a cycle.
"""
