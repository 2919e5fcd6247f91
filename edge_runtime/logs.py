"""One logging set-up for every command: adit's own loggers at INFO, third-party ones at WARNING.

ONNX Runtime's quantizer and NNCF log hundreds of INFO lines through the root logger; a site
technician reading the output needs adit's lines and real warnings only.
"""

import logging

ADIT_PACKAGES = ("edge_runtime", "train", "export", "benchmarks")


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    for package in ADIT_PACKAGES:
        logging.getLogger(package).setLevel(logging.DEBUG if verbose else logging.INFO)
