"""The routing lab: an ipywidgets panel that trains one model per click under the routing its toggles set."""
import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from ..experiments import run
from ..methods import Method
from ..methods.dgl import DEFAULT_ALPHA
from .plots.routing import lab_figure
from ..routing import JOINT, UNIFORM, Routing, dgl_routing
from ..train import TrainConfig

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


def routing_notes(routing):
    """What a student should know before training `routing`: the knobs that change nothing, and a routing
    that trains no encoder. A list of sentences (empty when every knob matters)."""
    if routing.alpha == 0 and not routing.mm_to_encoders:
        return ["nothing trains the encoders: the fused loss is cut from them and the unimodal losses weigh "
                "α = 0, so they keep their random weights and only the fusion head learns"]
    if routing.alpha == 0 and routing.uni_to_fusion:
        return ["with α = 0 the unimodal losses weigh nothing, so 'unimodal losses → fusion' changes nothing"]
    return []


def _notes_html(routing):
    return "".join(f"<br>note: {note}" for note in routing_notes(routing))


TOGGLE_TEXT = {"mm_toggle": "fused loss → encoders", "uni_toggle": "unimodal losses → fusion"}


class RoutingLab(widgets.VBox):
    """Toggles for `mm_to_encoders` and `uni_to_fusion`, an α slider, presets, a train and a clear button.

    Each click of `train_button` (or a call to `train()`) trains a fresh model on `data` for `epochs` (by
    default `TrainConfig`'s, as every chapter trains) with the routing the widgets show, appends
    `(label, History)` to `runs` and redraws the curves in `output`; while it trains, the buttons are disabled
    and a bar shows the epochs. The status line reports the best validation accuracy, the one the curves
    show, and what the routing leaves untrained. `clear_button` forgets every run. `train_options` go to
    `fit` (e.g. `lr`). A run trained before with the same settings comes back from the results cache.
    """

    def __init__(self, data, epochs=TrainConfig.epochs, routing=JOINT, seed=0, **train_options):
        self.data, self.epochs, self.seed, self.train_options = data, epochs, seed, train_options
        self.runs, self.figure = [], None
        wide = widgets.Layout(width="230px")
        self.mm_toggle = widgets.ToggleButton(layout=wide, tooltip="mm_to_encoders")
        self.uni_toggle = widgets.ToggleButton(layout=wide, tooltip="uni_to_fusion")
        self.alpha_slider = widgets.FloatSlider(min=0.0, max=5.0, step=0.25, description="α",
                                                layout=widgets.Layout(width="320px"))
        self.preset_buttons = [widgets.Button(description=name, layout=widgets.Layout(width="90px"))
                               for name in PRESETS]
        for button in self.preset_buttons:
            button.on_click(lambda b: self.set_routing(PRESETS[b.description]))
        self.train_button = widgets.Button(description="train", button_style="primary", icon="play")
        self.train_button.on_click(lambda _: self.train())
        self.clear_button = widgets.Button(description="clear", icon="trash", tooltip="forget every run")
        self.clear_button.on_click(lambda _: self.clear())
        self.status = widgets.HTML()
        self.output = widgets.Output()
        for control in (self.mm_toggle, self.uni_toggle, self.alpha_slider):
            control.observe(lambda _: self.show_state(), names="value")
        self.set_routing(routing)
        super().__init__([widgets.HBox([widgets.Label("presets:"), *self.preset_buttons]),
                          widgets.HBox([self.mm_toggle, self.uni_toggle]), self.alpha_slider,
                          widgets.HBox([self.train_button, self.clear_button]), self.status, self.output])

    def set_routing(self, routing):
        """Show `routing` on the toggles and slider."""
        self.mm_toggle.value = routing.mm_to_encoders
        self.uni_toggle.value = routing.uni_to_fusion
        self.alpha_slider.value = routing.alpha
        self.show_state()

    def routing(self):
        """The `Routing` the widgets currently show."""
        return Routing(mm_to_encoders=self.mm_toggle.value, uni_to_fusion=self.uni_toggle.value,
                       alpha=self.alpha_slider.value)

    def show_state(self):
        """Write each toggle's state on it (green when on), mark the preset the knobs match, and say in the
        status line which routing is set and what it leaves untrained."""
        for name, text in TOGGLE_TEXT.items():
            toggle = getattr(self, name)
            toggle.description = f"{text}: {'on' if toggle.value else 'off'}"
            toggle.button_style, toggle.icon = ("success", "check") if toggle.value else ("", "times")
        routing = self.routing()
        for button in self.preset_buttons:
            button.button_style = "info" if PRESETS[button.description] == routing else ""
        self.status.value = f"set: <b>{routing_label(routing)}</b>{_notes_html(routing)}"

    def train(self):
        """Train one model with the current routing, record it in `runs`, redraw the curves. Returns the History."""
        routing = self.routing()
        label = routing_label(routing)
        buttons = [self.train_button, self.clear_button, *self.preset_buttons]
        for button in buttons:
            button.disabled = True
        self.status.value = f"training <b>{label}</b> for {self.epochs} epochs…"
        try:
            with self.output:
                _, history = run(self.data, Method(routing, name=label), seed=self.seed, epochs=self.epochs,
                                 progress=True, **self.train_options)
        finally:
            for button in buttons:
                button.disabled = False
        self.runs.append((label, history))
        self.redraw()
        self.status.value = (f"<b>{label}</b>: best validation accuracy {history.val_acc[history.best_epoch]:.3f} "
                             f"(epoch {history.best_epoch + 1} of {self.epochs}){_notes_html(routing)}")
        return history

    def clear(self):
        """Forget every run and empty the plot."""
        self.runs = []
        if self.figure is not None:
            plt.close(self.figure)
            self.figure = None
        self.output.clear_output()
        self.show_state()

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
