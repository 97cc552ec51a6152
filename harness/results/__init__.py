"""From run files to what researchers read: leaderboard, paired comparisons, curves, trackers, publish."""
