"""Why a granularity wins: gradient quality, off-policy behaviour and credit placement, on the same rollouts."""
