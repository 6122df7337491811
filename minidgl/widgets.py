"""The routing lab: an ipywidgets panel that trains one model per click under the routing its toggles set."""
import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from .experiments import run
from .methods import Method
from .methods.dgl import DEFAULT_ALPHA
from .plots.routing import lab_figure
from .routing import JOINT, UNIFORM, Routing, dgl_routing
from .train import TrainConfig

PRESETS = {"joint": JOINT, "uniform": UNIFORM, "DGL": dgl_routing(DEFAULT_ALPHA)}


def routing_label(routing):
    """A short name for `routing`: a preset's name, or its three knobs."""
    if routing == JOINT:
        return "joint"
    if routing == UNIFORM:
        return "uniform"
    if not routing.mm_to_encoders and not routing.uni_to_fusion:
        return f"DGL α={routing.alpha:g}"
    return (f"mm→enc {'on' if routing.mm_to_encoders else 'off'}, "
            f"uni→fusion {'on' if routing.uni_to_fusion else 'off'}, α={routing.alpha:g}")


class RoutingLab(widgets.VBox):
    """Toggles for `mm_to_encoders` and `uni_to_fusion`, an α slider, presets and a train button.

    Each click of `train_button` (or a call to `train()`) trains a fresh model on `data` for `epochs` (by
    default `TrainConfig`'s, as every chapter trains) with the routing the widgets show, appends `(label, History)` to `runs` and redraws the curves in `output`;
    the status line reports the validation accuracy the curves show, at the best epoch.
    `train_options` go to `fit` (e.g. `lr`).
    """

    def __init__(self, data, epochs=TrainConfig.epochs, routing=JOINT, seed=0, **train_options):
        self.data, self.epochs, self.seed, self.train_options = data, epochs, seed, train_options
        self.runs, self.figure = [], None
        self.mm_toggle = widgets.ToggleButton(description="multimodal loss → encoders")
        self.uni_toggle = widgets.ToggleButton(description="unimodal losses → fusion")
        self.alpha_slider = widgets.FloatSlider(min=0.0, max=5.0, step=0.25, description="α")
        self.preset_buttons = [widgets.Button(description=name) for name in PRESETS]
        for button in self.preset_buttons:
            button.on_click(lambda b: self.set_routing(PRESETS[b.description]))
        self.train_button = widgets.Button(description="train", button_style="primary", icon="play")
        self.train_button.on_click(lambda _: self.train())
        self.status = widgets.HTML()
        self.output = widgets.Output()
        self.set_routing(routing)
        layout = widgets.Layout(width="auto")
        for w in (self.mm_toggle, self.uni_toggle):
            w.layout = layout
        super().__init__([widgets.HBox([widgets.Label("presets:"), *self.preset_buttons]),
                          widgets.HBox([self.mm_toggle, self.uni_toggle, self.alpha_slider]),
                          widgets.HBox([self.train_button, self.status]), self.output])

    def set_routing(self, routing):
        """Show `routing` on the toggles and slider."""
        self.mm_toggle.value = routing.mm_to_encoders
        self.uni_toggle.value = routing.uni_to_fusion
        self.alpha_slider.value = routing.alpha

    def routing(self):
        """The `Routing` the widgets currently show."""
        return Routing(mm_to_encoders=self.mm_toggle.value, uni_to_fusion=self.uni_toggle.value,
                       alpha=self.alpha_slider.value)

    def train(self):
        """Train one model with the current routing, record it in `runs`, redraw the curves. Returns the History."""
        routing = self.routing()
        label = routing_label(routing)
        self.status.value = f"training <b>{label}</b> for {self.epochs} epochs…"
        _, history = run(self.data, Method(routing, name=label), seed=self.seed, epochs=self.epochs,
                         progress=False, **self.train_options)
        self.runs.append((label, history))
        self.status.value = (f"<b>{label}</b>: best validation accuracy {history.val_acc[history.best_epoch]:.3f} "
                             f"(epoch {history.best_epoch + 1} of {self.epochs})")
        self.redraw()
        return history

    def redraw(self):
        """Draw every run so far into `output`."""
        if self.figure is not None:
            plt.close(self.figure)
        self.figure = lab_figure(self.runs)
        with self.output:
            self.output.clear_output(wait=True)
            display(self.figure)
        plt.close(self.figure)


def routing_lab(data, epochs=TrainConfig.epochs, routing=JOINT, seed=0, **train_options):
    """Build the routing lab (an `ipywidgets.VBox`) for `data`, starting at `routing`; nothing is trained yet."""
    return RoutingLab(data, epochs=epochs, routing=routing, seed=seed, **train_options)
