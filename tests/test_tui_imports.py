"""Import hygiene: the UI module paints before torch exists, so importing it must not pull the ML stack."""

from __future__ import annotations

import subprocess
import sys


def test_app_import_is_light():
    code = ("import sys, tracer_tui.tui.app, tracer_tui.tui.launch, tracer_tui.session; "
            "print(sorted(m for m in ('torch', 'transformer_lens', 'sae_lens', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_session_module_has_no_textual():
    code = "import sys, tracer_tui.session; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
