"""Token-level REINFORCE with a group baseline (algorithms.md §2): the family's on-policy anchor.

No ratio and no clip: ρ = π/sg[π] keeps the value 1 and the gradient of log π. Because it is
purely on-policy it takes one gradient update per rollout batch whatever the suite's
`updates_per_batch` says (the leaderboard records 1). Baseline: leave-one-out (RLOO, default) or
the group mean.
"""

from dataclasses import dataclass

from algorithms import register
from algorithms.objective import PolicyGradient


@register("token_pg")
@dataclass
class TokenPG(PolicyGradient):
    ratio: str = "none"
    advantage: str = "rloo"
    clip: bool = False
    on_policy_only = True

    def advantage_choices(self):
        return ("rloo", "mean")
