"""The site loop on the device: hard examples, operator feedback, labelling tasks, shadow runs, drift.

Kept apart from the daemon's core (``pipeline``, ``rules``, ``outbox``): the pipeline calls one hook,
``SiteLoop.observe``, and everything here works from what that hook hands it. Nothing here imports
torch; the workstation's bundle builder calls ``framestats.reference_statistics`` for the manifest.
"""
