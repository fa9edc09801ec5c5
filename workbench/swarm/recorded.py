"""The endpoint.yaml values a Swarm release records (pure): a single host's
(:func:`workbench.ops.inputs.deployed_config`) and the Swarm settings, so that ``diff ENV
--repo`` compares the repo with a Swarm release key by key, as a deploy would record it now."""

from __future__ import annotations

from typing import Any

from ..model import Endpoint


def recorded_config(endpoint: Endpoint) -> dict[str, Any]:
    """What a Swarm deploy records as the endpoint's config (its release's ``endpoint_config``)."""
    from ..ops.inputs import deployed_config

    return {**deployed_config(endpoint), "replicas": endpoint.replicas,
            "placement": list(endpoint.placement), "volume_driver": endpoint.volume_driver,
            "update": {"parallelism": endpoint.update.parallelism,
                       "delay": endpoint.update.delay, "monitor": endpoint.update.monitor}}
