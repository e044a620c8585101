"""lab_page's filter of kernel complaints: JupyterLab's widget-manager probe is left out, nothing else."""
from lab_page import LabNotebook

PROBE = "No such comm target registered: jupyter.widget.control\n"


class _Page:
    def __init__(self, texts):
        self.texts = texts

    def evaluate(self, script, *args):
        return list(self.texts)


def _complaints(texts):
    nb = LabNotebook.__new__(LabNotebook)
    nb.page = _Page(texts)
    return nb.kernel_complaints()


def test_the_widget_probe_and_its_follow_ups_are_left_out():
    follow_up = "No such comm: 3eee372a-e4ca-41b5-8a15-2b9170eeb0f1\n"
    assert _complaints([PROBE, follow_up, follow_up, "ValueError: top_k\n"]) == ["ValueError: top_k\n"]


def test_other_complaints_stay():
    lost = "No such comm: 3eee372a\n"                       # without the probe before it: a real problem
    assert _complaints([lost, "\x1b[31mKeyError\x1b[0m: 'x'\n"]) == [lost, "KeyError: 'x'\n"]
