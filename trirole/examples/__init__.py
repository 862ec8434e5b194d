"""Small, complete uses of trirole's parts, importable from anywhere once trirole is
installed (``from trirole.examples.custom_corrector import make_static_check_corrector``)
and runnable as modules (``python -m trirole.examples.custom_corrector "TASK"``)."""
