"""The zone editor's back end: a drawn rule -> the exact YAML to paste under ``rules:``, validated.

The YAML is produced by the same validator the daemon starts with (the site's configuration plus
the new rule), so what the editor shows is what the daemon will accept. The daemon never rewrites
its own configuration: a person pastes the rule and restarts it.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from edge_runtime.bundle import Manifest
from edge_runtime.config import SiteConfig, check_rule_labels
from edge_runtime.config.rules import RuleConfig
from edge_runtime.errors import ConfigError
from edge_runtime.yamlconfig import format_validation_error


def rule_yaml(config: SiteConfig, manifest: Manifest, draft: dict[str, Any]) -> tuple[str, str | None]:
    """The rule as a YAML ``rules:`` list of one, and a warning when this bundle cannot use it yet."""
    try:
        rule = RuleConfig.model_validate(draft)
        site = config.model_dump()
        candidate = SiteConfig.model_validate({**site, "rules": [*site["rules"], rule.model_dump()]})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "the drawn rule")) from exc
    check_rule_labels(candidate, manifest.classes)
    warning = None
    if manifest.task != "detect" and (rule.zone is not None or rule.tripwire is not None):
        warning = (
            f"the bundle in use is {manifest.task!r}: zones and tripwires apply with a detect bundle, "
            "which the daemon checks at start"
        )
    text = yaml.safe_dump(
        {"rules": [rule.model_dump(mode="json", exclude_unset=True)]},
        sort_keys=False,
        default_flow_style=None,
        allow_unicode=True,
    )
    return text, warning
