"""A fleet of edge boxes over the MQTT broker: device state, desired bundles, staged rollouts.

Importing the package imports nothing heavy; see docs/fleet.md for the topics and the rollout.
"""
